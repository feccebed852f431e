// Public surface of the file-map pictures: build the map of a migration file, draw it as SVG or HTML.
export { renderHtml } from "./html.js";
export {
  buildFileMap,
  type FileMap,
  fileMapOf,
  type MapRegion,
  type PagePresence,
  type RegionKind,
} from "./map.js";
export { layoutRows, type Row, type RowScale, renderSvg, sizeText } from "./svg.js";
