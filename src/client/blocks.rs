//! Video in a plain terminal (`--render terminal`): each character cell shows two pixels, one
//! above the other, as the half block `▀` with the top pixel as its foreground colour and the
//! bottom pixel as its background. Colours are 24-bit where the terminal says it can
//! (`COLORTERM=truecolor`), else the nearest of the 256 xterm colours.
//!
//! The picture sits in the top rows of the screen; a scroll region below it keeps chat lines
//! and the prompt usable. Each frame redraws only the cells whose colour changed (by a step,
//! or to another palette colour), in one write that saves and restores the cursor, so the
//! prompt being typed is never disturbed.
//!
//! Everything here is pure: pixels in, escape sequences out, tested without a terminal. The
//! player (`player.rs`) decodes and scales frames and writes what this returns.

use std::fmt::Write as _;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// How colours are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    /// `ESC[38;2;R;G;Bm`: any colour.
    TrueColor,
    /// `ESC[38;5;Nm`: the xterm palette's 6x6x6 cube and grey ramp.
    Palette256,
}

impl Colors {
    /// What the terminal announces in `COLORTERM` (`truecolor` or `24bit`), as most programs
    /// read it: without it, 256 colours, which every modern terminal has.
    pub fn from_colorterm(colorterm: Option<&str>) -> Colors {
        match colorterm {
            Some(v) if v.contains("truecolor") || v.contains("24bit") => Colors::TrueColor,
            _ => Colors::Palette256,
        }
    }
}

/// One character cell: the colour of its top and bottom pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub top: Rgb,
    pub bottom: Rgb,
}

/// The largest picture, in cells, that keeps a `width`x`height` frame's shape within `cols`
/// columns and `rows` rows (a cell is two pixels tall, so square pixels stay square). At
/// least 1x1.
pub fn fit(width: u32, height: u32, cols: u16, rows: u16) -> (u16, u16) {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let scale = (f64::from(cols) / w).min(f64::from(rows) * 2.0 / h);
    let cols_used = ((w * scale).floor() as u16).clamp(1, cols.max(1));
    let rows_used = ((h * scale / 2.0).floor() as u16).clamp(1, rows.max(1));
    (cols_used, rows_used)
}

/// The cells of a picture `cols` wide and `rows` tall, from packed pixels `cols` wide and
/// `2 * rows` tall, 3 bytes each in the order `bgr` says (OpenCV's pictures are BGR).
/// `None` if `pixels` is not that size.
pub fn cells(pixels: &[u8], cols: u16, rows: u16, bgr: bool) -> Option<Vec<Cell>> {
    let (w, h) = (usize::from(cols), usize::from(rows) * 2);
    if pixels.len() != w * h * 3 {
        return None;
    }
    let pixel = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        let p = [pixels[i], pixels[i + 1], pixels[i + 2]];
        if bgr { [p[2], p[1], p[0]] } else { p }
    };
    let mut out = Vec::with_capacity(w * usize::from(rows));
    for row in 0..usize::from(rows) {
        for x in 0..w {
            out.push(Cell { top: pixel(x, 2 * row), bottom: pixel(x, 2 * row + 1) });
        }
    }
    Some(out)
}

/// The xterm palette index nearest to `rgb`: a colour of the 6x6x6 cube (16-231) or of the
/// grey ramp (232-255), whichever is closer.
pub fn palette_index(rgb: Rgb) -> u8 {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let nearest_level =
        |v: u8| (0..6).min_by_key(|&i| (i32::from(LEVELS[i]) - i32::from(v)).abs()).unwrap_or(0);
    let distance = |a: Rgb, b: Rgb| -> i32 {
        (0..3).map(|i| (i32::from(a[i]) - i32::from(b[i])).pow(2)).sum()
    };
    let [r, g, b] = rgb.map(nearest_level);
    let cube = [LEVELS[r], LEVELS[g], LEVELS[b]];
    let mean = (u32::from(rgb[0]) + u32::from(rgb[1]) + u32::from(rgb[2])) / 3;
    // Grey ramp: 8, 18, ..., 238.
    let step = (mean.saturating_sub(3) / 10).min(23) as u8;
    let grey_level = 8 + 10 * step;
    let grey = [grey_level; 3];
    if distance(rgb, grey) < distance(rgb, cube) {
        232 + step
    } else {
        (16 + 36 * r + 6 * g + b) as u8
    }
}

/// The colour a palette index shows (for 16-255), to compare what is drawn with what is wanted.
pub fn palette_rgb(index: u8) -> Rgb {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    match index {
        16..=231 => {
            let i = usize::from(index - 16);
            [LEVELS[i / 36], LEVELS[(i / 6) % 6], LEVELS[i % 6]]
        }
        232..=255 => [8 + 10 * (index - 232); 3],
        _ => [0; 3],
    }
}

/// Colours are compared in steps of this many levels a channel: a cell is redrawn when its
/// colour moves to another step. JPEG noise between frames then seldom redraws a cell, and a
/// colour that drifts (a background changing hue) crosses a step in every cell at once:
/// nothing is left behind as a trail or a band of older colour, and nothing shown is more
/// than a step off.
const COLOR_STEP: u8 = 8;

impl Colors {
    /// What decides whether a cell must be redrawn: the palette colour the terminal will show
    /// (256 colours), or the colour in steps of `COLOR_STEP` (24-bit).
    fn shown(self, cell: Cell) -> Cell {
        let step = |rgb: Rgb| match self {
            Colors::TrueColor => rgb.map(|c| c / COLOR_STEP),
            Colors::Palette256 => [palette_index(rgb), 0, 0],
        };
        Cell { top: step(cell.top), bottom: step(cell.bottom) }
    }
}

/// The picture area of the screen and what is drawn in it, to redraw only what changes.
#[derive(Debug)]
pub struct Canvas {
    cols: u16,
    rows: u16,
    colors: Colors,
    /// What each cell shows now, as `Colors::shown` (`None` until first drawn).
    drawn: Vec<Option<Cell>>,
}

impl Canvas {
    /// A picture `cols` by `rows` cells in the top-left corner of the screen.
    pub fn new(cols: u16, rows: u16, colors: Colors) -> Canvas {
        Canvas { cols, rows, colors, drawn: vec![None; usize::from(cols) * usize::from(rows)] }
    }

    pub fn size(&self) -> (u16, u16) {
        (self.cols, self.rows)
    }

    /// The bytes that make the screen show `cells` (the canvas's size, row by row): only the
    /// cells that changed, each run of them after one cursor move, all between a cursor save
    /// and restore. Empty if nothing changed.
    pub fn draw(&mut self, cells: &[Cell]) -> String {
        let mut out = String::new();
        let mut last_colors: Option<Cell> = None;
        for row in 0..self.rows {
            let mut cursor_here = false;
            for col in 0..self.cols {
                let i = usize::from(row) * usize::from(self.cols) + usize::from(col);
                let Some(&cell) = cells.get(i) else { return out };
                let shown = self.colors.shown(cell);
                if self.drawn[i] == Some(shown) {
                    cursor_here = false;
                    continue;
                }
                if out.is_empty() {
                    out.push_str("\x1b7");
                }
                if !cursor_here {
                    let _ = write!(out, "\x1b[{};{}H", row + 1, col + 1);
                    cursor_here = true;
                }
                if last_colors != Some(cell) {
                    self.set_colors(&mut out, cell);
                    last_colors = Some(cell);
                }
                out.push('▀');
                self.drawn[i] = Some(shown);
            }
        }
        if !out.is_empty() {
            out.push_str("\x1b[0m\x1b8");
        }
        out
    }

    fn set_colors(&self, out: &mut String, cell: Cell) {
        let ([r, g, b], [r2, g2, b2]) = (cell.top, cell.bottom);
        let _ = match self.colors {
            Colors::TrueColor => write!(out, "\x1b[38;2;{r};{g};{b};48;2;{r2};{g2};{b2}m"),
            Colors::Palette256 => write!(
                out,
                "\x1b[38;5;{};48;5;{}m",
                palette_index(cell.top),
                palette_index(cell.bottom)
            ),
        };
    }
}

/// Takes the terminal's alternate screen (its second buffer, the one `less` and `vim` draw
/// on), with the rows below the top `rows` as a scroll region and the cursor on the last line:
/// the main screen and its scrollback stay as they were, under it.
pub fn enter_screen(rows: u16, screen_rows: u16) -> String {
    format!("\x1b[?1049h{}\x1b[{screen_rows};1H", open_region(rows, screen_rows))
}

/// Gives the main screen back as it was, the cursor where it was (the scroll region is the
/// terminal's, not the screen's: it is reset first).
pub fn leave_screen() -> &'static str {
    "\x1b[r\x1b[?1049l"
}

/// Keeps the rows below a picture `rows` tall as a scroll region, where lines go on printing
/// as the picture plays. The cursor (on the prompt, at the bottom) is left where it was.
pub fn open_region(rows: u16, screen_rows: u16) -> String {
    format!("\x1b7\x1b[{};{screen_rows}r\x1b8", rows + 1)
}

/// Blanks the top `rows` rows (where a picture was), and leaves the cursor where it was: the
/// rows below, with the chat and the prompt, stay as they are.
pub fn clear_top(rows: u16) -> String {
    let mut out = String::from("\x1b7");
    for row in 1..=rows {
        out.push_str(&format!("\x1b[{row};1H\x1b[2K"));
    }
    out.push_str("\x1b8");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_keep_their_shape_and_fit_the_screen() {
        // 16:9 in 80x24 minus room for chat: the width limits.
        assert_eq!(fit(640, 360, 80, 30), (80, 22));
        // A tall screen: the width limits; a wide one: the height.
        assert_eq!(fit(640, 480, 40, 100), (40, 15));
        assert_eq!(fit(640, 480, 200, 10), (26, 10));
        // Degenerate sizes still give a cell.
        assert_eq!(fit(0, 0, 0, 0), (1, 1));
    }

    #[test]
    fn a_cell_shows_the_pixel_above_as_foreground_and_the_one_below_as_background() {
        // 2x2 pixels, BGR: red, green / blue, white.
        let bgr = [0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255];
        let c = cells(&bgr, 2, 1, true).unwrap();
        assert_eq!(c[0], Cell { top: [255, 0, 0], bottom: [0, 0, 255] });
        assert_eq!(c[1], Cell { top: [0, 255, 0], bottom: [255, 255, 255] });
        assert!(cells(&bgr, 3, 1, true).is_none());
    }

    #[test]
    fn palette_colors_are_the_nearest_of_the_cube_or_the_grey_ramp() {
        assert_eq!(palette_index([255, 0, 0]), 196);
        assert_eq!(palette_index([0, 0, 0]), 16);
        assert_eq!(palette_index([255, 255, 255]), 231);
        assert_eq!(palette_index([128, 128, 128]), 244);
        for index in 16..=255u8 {
            let rgb = palette_rgb(index);
            assert_eq!(palette_rgb(palette_index(rgb)), rgb, "index {index}");
        }
    }

    #[test]
    fn only_changed_cells_are_redrawn() {
        let red = Cell { top: [255, 0, 0], bottom: [255, 0, 0] };
        let blue = Cell { top: [0, 0, 255], bottom: [0, 0, 200] };
        let mut canvas = Canvas::new(2, 2, Colors::TrueColor);
        let first = canvas.draw(&[red, red, red, blue]);
        assert_eq!(
            first,
            "\x1b7\x1b[1;1H\x1b[38;2;255;0;0;48;2;255;0;0m▀▀\x1b[2;1H▀\
             \x1b[38;2;0;0;255;48;2;0;0;200m▀\x1b[0m\x1b8"
        );
        // The same picture, with a little noise (within a step): nothing to draw.
        let noisy = Cell { top: [253, 3, 0], bottom: [255, 0, 2] };
        assert_eq!(canvas.draw(&[noisy, red, red, blue]), "");
        // One cell changes: one move, one colour, one block.
        assert_eq!(
            canvas.draw(&[red, red, blue, blue]),
            "\x1b7\x1b[2;1H\x1b[38;2;0;0;255;48;2;0;0;200m▀\x1b[0m\x1b8"
        );
    }

    #[test]
    fn a_colour_that_drifts_is_redrawn_everywhere_at_once() {
        // A flat background that darkens by 1 a frame. Compared with what each cell last
        // drew, cells the picture's motion had redrawn at other times would each lag by a
        // different amount: a trail. In steps, every cell changes in the same frame.
        let mut canvas = Canvas::new(4, 4, Colors::TrueColor);
        let shade = |v: u8| vec![Cell { top: [v, 0, 0], bottom: [v, 0, 0] }; 16];
        let mut frame = shade(103);
        // A moving object redraws one cell on its own, in the middle of a step.
        frame[5] = Cell { top: [0, 0, 255], bottom: [0, 0, 255] };
        canvas.draw(&frame);
        canvas.draw(&shade(102));
        let mut redrawn = Vec::new();
        for v in (80..102).rev() {
            let out = canvas.draw(&shade(v));
            redrawn.push(out.matches('▀').count());
        }
        // Each frame redraws all 16 cells or none: never some of them.
        assert!(redrawn.iter().all(|&n| n == 0 || n == 16), "{redrawn:?}");
        assert!(redrawn.contains(&16));
        // In 256 colours, a cell is redrawn when its palette colour changes, and only then.
        let mut canvas = Canvas::new(1, 1, Colors::Palette256);
        let cell = |v: u8| [Cell { top: [v, v, v], bottom: [0, 0, 0] }];
        canvas.draw(&cell(120));
        assert_eq!(canvas.draw(&cell(122)), "", "both show grey 243, (118, 118, 118)");
        assert_ne!(canvas.draw(&cell(140)), "");
    }

    #[test]
    fn without_truecolor_the_palette_is_used() {
        let mut canvas = Canvas::new(1, 1, Colors::Palette256);
        let out = canvas.draw(&[Cell { top: [255, 0, 0], bottom: [0, 0, 0] }]);
        assert!(out.contains("\x1b[38;5;196;48;5;16m▀"), "{out:?}");
        assert_eq!(Colors::from_colorterm(Some("truecolor")), Colors::TrueColor);
        assert_eq!(Colors::from_colorterm(Some("24bit")), Colors::TrueColor);
        assert_eq!(Colors::from_colorterm(None), Colors::Palette256);
    }

    #[test]
    fn the_region_leaves_the_picture_rows_out_of_scrolling() {
        assert_eq!(open_region(2, 24), "\x1b7\x1b[3;24r\x1b8");
        assert_eq!(enter_screen(2, 24), "\x1b[?1049h\x1b7\x1b[3;24r\x1b8\x1b[24;1H");
        assert_eq!(leave_screen(), "\x1b[r\x1b[?1049l");
    }
}
