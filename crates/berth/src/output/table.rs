//! Go's text/tabwriter as docker configures it for tables: cells are
//! tab-terminated, each column is as wide as its widest cell plus
//! `padding` (at least `min_width`), and the last cell of a line is not
//! aligned.

/// Docker's `formatter` settings: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
pub const DOCKER_MIN_WIDTH: usize = 10;
pub const DOCKER_PADDING: usize = 3;

/// Aligns tab-separated `text` (lines end with `\n`).
pub fn align(text: &str, min_width: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        // Every cell but the last is tab-terminated and so aligned.
        for (j, cell) in cells.iter().take(cells.len().saturating_sub(1)).enumerate() {
            let w = (cell.chars().count() + padding).max(min_width);
            if j >= widths.len() {
                widths.push(w);
            } else if w > widths[j] {
                widths[j] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for cells in &lines {
        let last = cells.len().saturating_sub(1);
        for (j, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if j < last {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Docker's table layout.
pub fn docker_table(text: &str) -> String {
    align(text, DOCKER_MIN_WIDTH, DOCKER_PADDING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_tabwriter() {
        let t = "CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox:latest\tx\n";
        assert_eq!(
            docker_table(t),
            "CONTAINER ID   IMAGE            NAMES\nabc            busybox:latest   x\n"
        );
        assert_eq!(docker_table("A\tB\n"), "A         B\n");
    }
}
