// Why this file exists: where each piece of a download sits on its piece map, and in what
// colour — pure, so the canvas only paints and a test can find a piece's pixel. When a cell
// stands for several pieces, its colour says no more than its pieces do: verified only when all
// are, in flight only when one is, "partly verified" (a lighter green) for verified and missing
// pieces with none in flight, missing when none is verified or in flight.

/** `v` verified, `f` in flight, `-` missing (WebDownload.pieces). */
export type PieceMark = 'v' | 'f' | '-';

/** A cell's mark: a piece's, or `p` for a cell of verified and missing pieces (none in flight). */
export type CellMark = PieceMark | 'p';

/** The colours of verified, in flight and missing are fixed: the end-to-end test counts their pixels. */
export const CELL_COLOURS: Readonly<Record<CellMark, string>> = { v: '#2e7d32', f: '#e69500', '-': '#dde1e6', p: '#a5d6a7' };

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

/** The mark of a cell: in flight when any of its pieces is, verified when all are, partly verified when some are, else missing. */
export function cellMark(pieces: string, cell: number, piecesPerCell: number): CellMark {
  const slice = pieces.slice(cell * piecesPerCell, (cell + 1) * piecesPerCell);
  if (slice.includes('f')) return 'f';
  if (!slice.includes('v')) return '-';
  return /^v+$/.test(slice) ? 'v' : 'p';
}

export function pieceCounts(pieces: string): Record<PieceMark, number> {
  const counts: Record<PieceMark, number> = { v: 0, f: 0, '-': 0 };
  for (const mark of pieces) if (mark === 'v' || mark === 'f' || mark === '-') counts[mark]++;
  return counts;
}
