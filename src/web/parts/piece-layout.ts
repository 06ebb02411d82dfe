// Why this file exists: where each piece of a download sits on its piece map, and in what
// colour — pure, so the canvas only paints and a test can find a piece's pixel.

/** `v` verified, `f` in flight, `-` missing (WebDownload.pieces). */
export type PieceMark = 'v' | 'f' | '-';

export const PIECE_COLOURS: Readonly<Record<PieceMark, string>> = { v: '#2e7d32', f: '#e69500', '-': '#dde1e6' };

export interface PieceLayout {
  /** Side of a cell, in CSS pixels (a cell is drawn one pixel smaller when it is 6 or more). */
  cellPx: number;
  columns: number;
  rows: number;
  /** How many pieces a cell stands for (1 unless the file has more pieces than fit). */
  piecesPerCell: number;
  heightPx: number;
}

const MAX_CELL_PX = 14;
const MIN_CELL_PX = 4;
const TARGET_HEIGHT_PX = 96;
const MAX_ROWS = 40;

export function pieceLayout(pieceCount: number, widthPx: number): PieceLayout {
  const width = Math.max(MIN_CELL_PX, Math.floor(widthPx));
  const wanted = pieceCount === 0 ? MAX_CELL_PX : Math.floor(Math.sqrt((width * TARGET_HEIGHT_PX) / pieceCount));
  const cellPx = Math.max(MIN_CELL_PX, Math.min(MAX_CELL_PX, wanted));
  const columns = Math.max(1, Math.floor(width / cellPx));
  const piecesPerCell = Math.max(1, Math.ceil(pieceCount / (columns * MAX_ROWS)));
  const cells = Math.ceil(pieceCount / piecesPerCell);
  const rows = Math.max(1, Math.ceil(cells / columns));
  return { cellPx, columns, rows, piecesPerCell, heightPx: rows * cellPx };
}

/** The mark of a cell: verified when all its pieces are, in flight when any is in flight or verified, else missing. */
export function cellMark(pieces: string, cell: number, piecesPerCell: number): PieceMark {
  const slice = pieces.slice(cell * piecesPerCell, (cell + 1) * piecesPerCell);
  if (slice.length > 0 && /^v+$/.test(slice)) return 'v';
  return /[vf]/.test(slice) ? 'f' : '-';
}

export function pieceCounts(pieces: string): Record<PieceMark, number> {
  const counts: Record<PieceMark, number> = { v: 0, f: 0, '-': 0 };
  for (const mark of pieces) if (mark === 'v' || mark === 'f' || mark === '-') counts[mark]++;
  return counts;
}
