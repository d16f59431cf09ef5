//! Plain-text tables that line up in a terminal whatever the script: cells are padded by their
//! display width (a Chinese character takes two columns), not by their count of characters.

use unicode_width::UnicodeWidthStr;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Rows of cells printed with each column as wide as its widest cell.
pub struct Table {
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with the given header; `aligns` has one entry per column.
    pub fn new(header: &[&str], aligns: &[Align]) -> Table {
        Table {
            aligns: aligns.to_vec(),
            rows: vec![header.iter().map(|cell| cell.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines, columns two spaces apart, without trailing blanks.
    pub fn lines(&self) -> Vec<String> {
        let columns = self.aligns.len();
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                self.rows
                    .iter()
                    .map(|row| row.get(column).map_or(0, |cell| cell.width()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        self.rows
            .iter()
            .map(|row| {
                let mut line = String::new();
                for (column, cell) in row.iter().enumerate().take(columns) {
                    if column > 0 {
                        line.push_str("  ");
                    }
                    let padding = " ".repeat(widths[column].saturating_sub(cell.width()));
                    match self.aligns[column] {
                        Align::Left => {
                            line.push_str(cell);
                            line.push_str(&padding);
                        }
                        Align::Right => {
                            line.push_str(&padding);
                            line.push_str(cell);
                        }
                    }
                }
                line.trim_end().to_string()
            })
            .collect()
    }

    pub fn print(&self) {
        for line in self.lines() {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_and_latin_cells_line_up() {
        let mut table = Table::new(
            &["rep", "name", "owned"],
            &[Align::Left, Align::Left, Align::Right],
        );
        table.row(vec!["r01".into(), "王芳".into(), "12".into()]);
        table.row(vec!["r02".into(), "Li Lei".into(), "3".into()]);
        let lines = table.lines();
        let owned_column = |line: &str| {
            let end = line.trim_end().width();
            end
        };
        // Every line ends at the same display column: the right-aligned counts line up.
        let ends: Vec<usize> = lines.iter().map(|line| owned_column(line)).collect();
        assert!(ends.iter().all(|end| *end == ends[0]), "{lines:#?}");
        assert_eq!(lines[1], "r01  王芳       12");
        assert_eq!(lines[2], "r02  Li Lei      3");
    }
}
