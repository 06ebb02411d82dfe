// Why this file exists: a download's piece map, a canvas with one cell a piece — verified,
// in flight, missing (and, when a cell stands for several pieces, partly verified) — sized to
// its container's width and redrawn when pieces or width change.

import { useEffect, useRef, useState } from 'preact/hooks';
import { CELL_COLOURS, cellMark, pieceCounts, pieceLayout } from './piece-layout.js';

export function PieceMap(props: { pieces: string }) {
  const wrapper = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [widthPx, setWidthPx] = useState(0);

  useEffect(() => {
    const element = wrapper.current;
    if (!element) return;
    setWidthPx(element.clientWidth);
    const observer = new ResizeObserver(() => setWidthPx(element.clientWidth));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const layout = pieceLayout(props.pieces.length, widthPx);
  useEffect(() => {
    const element = canvas.current;
    const context = element?.getContext('2d');
    if (!element || !context || widthPx === 0) return;
    const scale = window.devicePixelRatio || 1;
    const drawnWidth = layout.columns * layout.cellPx;
    element.width = Math.round(drawnWidth * scale);
    element.height = Math.round(layout.heightPx * scale);
    element.style.width = `${drawnWidth}px`;
    element.style.height = `${layout.heightPx}px`;
    context.setTransform(scale, 0, 0, scale, 0, 0);
    context.clearRect(0, 0, drawnWidth, layout.heightPx);
    const side = layout.cellPx >= 6 ? layout.cellPx - 1 : layout.cellPx;
    const cells = Math.ceil(props.pieces.length / layout.piecesPerCell);
    for (let cell = 0; cell < cells; cell++) {
      context.fillStyle = CELL_COLOURS[cellMark(props.pieces, cell, layout.piecesPerCell)];
      context.fillRect((cell % layout.columns) * layout.cellPx, Math.floor(cell / layout.columns) * layout.cellPx, side, side);
    }
  }, [props.pieces, widthPx, layout.cellPx, layout.columns, layout.heightPx, layout.piecesPerCell]);

  const counts = pieceCounts(props.pieces);
  return (
    <div class="piece-map" ref={wrapper}>
      {props.pieces.length === 0 ? (
        <p class="muted">pieces not known yet</p>
      ) : (
        <>
          <canvas
            ref={canvas}
            role="img"
            aria-label={`pieces: ${counts.v} verified, ${counts.f} in flight, ${counts['-']} missing`}
            data-testid="piece-map"
            data-cell-px={layout.cellPx}
            data-columns={layout.columns}
            data-pieces-per-cell={layout.piecesPerCell}
          />
          <p class="legend">
            <span class="swatch swatch-verified" /> {counts.v} verified <span class="swatch swatch-flight" /> {counts.f} in flight <span class="swatch swatch-missing" /> {counts['-']} missing
            {layout.piecesPerCell > 1 ? (
              <span data-testid="piece-map-partly">
                {' '}
                <span class="swatch swatch-partly" /> partly verified (a cell is {layout.piecesPerCell} pieces)
              </span>
            ) : null}
          </p>
        </>
      )}
    </div>
  );
}
