//! Excel workbooks (`.xlsx`, read with calamine) turned into the CSV a spreadsheet program
//! would save, so one reader checks both. Cells become the text a spreadsheet user sees: a date
//! cell is a date (with the organisation's UTC offset when it has a time of day), a whole
//! number is written without a decimal point or exponent (13800138000, not 1.38e10), other
//! numbers to 15 significant digits as Excel shows them.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{FixedOffset, NaiveTime, TimeZone};

use crate::{FileError, Result};

/// A sheet as CSV, and the sheet row its first line (the header) came from.
#[derive(Debug)]
pub struct SheetAsCsv {
    pub csv: Vec<u8>,
    /// 1-based row of the header in the sheet: CSV line `n` is sheet row `n + first_row - 1`.
    pub first_row: usize,
    pub sheet: String,
}

/// Whether `name` looks like an Excel workbook by its extension.
pub fn is_workbook(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".xlsx") || lower.ends_with(".xlsm")
}

/// Reads sheet `sheet` (the first when `None`) of the workbook in `bytes` as CSV.
pub fn workbook_as_csv(
    bytes: Vec<u8>,
    sheet: Option<&str>,
    offset: FixedOffset,
) -> Result<SheetAsCsv> {
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|error| FileError::Format(format!("not an Excel workbook (.xlsx): {error}")))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|name| name.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                FileError::Format(format!(
                    "the workbook has no sheet '{wanted}'; its sheets: {}",
                    names.join(", ")
                ))
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| FileError::Format("the workbook has no sheet".to_string()))?,
    };
    let range = workbook
        .worksheet_range(&name)
        .map_err(|error| FileError::Format(format!("sheet '{name}': {error}")))?;
    let first_row = range.start().map_or(1, |(row, _)| row as usize + 1);
    let mut csv = Vec::new();
    for row in range.rows() {
        // Trailing empty cells are not columns (a sheet's used range is often wider).
        let width = row
            .iter()
            .rposition(|cell| !matches!(cell, Data::Empty))
            .map_or(0, |last| last + 1);
        if width == 0 {
            // An empty row stays an empty line, which the CSV reader skips while still
            // counting it, so lines keep matching the sheet's rows.
            csv.push(b'\n');
            continue;
        }
        let texts: Vec<String> = row[..width]
            .iter()
            .map(|cell| cell_text(cell, offset))
            .collect();
        let mut writer = ::csv::WriterBuilder::new().from_writer(Vec::new());
        writer.write_record(&texts)?;
        csv.extend(
            writer
                .into_inner()
                .map_err(|error| FileError::Format(error.to_string()))?,
        );
    }
    Ok(SheetAsCsv {
        csv,
        first_row,
        sheet: name,
    })
}

/// A cell as the text a spreadsheet user reads in it.
pub fn cell_text(cell: &Data, offset: FixedOffset) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Int(number) => number.to_string(),
        Data::Float(number) => number_text(*number),
        Data::Bool(value) => value.to_string(),
        Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::DateTime(value) => {
            if value.is_duration() {
                return number_text(value.as_f64());
            }
            match value.as_datetime() {
                Some(time) if time.time() == NaiveTime::MIN => time.date().to_string(),
                Some(time) => match offset.from_local_datetime(&time).single() {
                    Some(local) => local.to_rfc3339(),
                    None => time.format("%Y-%m-%dT%H:%M:%S").to_string(),
                },
                None => number_text(value.as_f64()),
            }
        }
        Data::Error(error) => format!("#{error:?}"),
    }
}

/// A number as Excel shows it in a general cell: whole numbers in full, others to 15
/// significant digits without trailing zeros, never with an exponent.
pub fn number_text(number: f64) -> String {
    if !number.is_finite() {
        return number.to_string();
    }
    if number.fract() == 0.0 && number.abs() < 1e15 {
        return format!("{number:.0}");
    }
    let magnitude = if number == 0.0 {
        0
    } else {
        number.abs().log10().floor() as i32
    };
    let decimals = (14 - magnitude).clamp(0, 20) as usize;
    let text = format!("{number:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(number: f64, expected: &str) {
        assert_eq!(number_text(number), expected, "{number}");
    }

    #[test]
    fn numbers_read_as_a_spreadsheet_shows_them() {
        check(13_800_138_000.0, "13800138000");
        check(42.0, "42");
        check(-7.0, "-7");
        check(0.1 + 0.2, "0.3");
        check(1234.5, "1234.5");
        check(0.000_125, "0.000125");
        check(0.0, "0");
        check(1e20, "100000000000000000000");
    }

    fn beijing() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn workbook(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("客户").unwrap();
        build(sheet);
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn a_sheet_becomes_the_csv_it_would_save_as() {
        let bytes = workbook(|sheet| {
            sheet.write_string(0, 0, "id").unwrap();
            sheet.write_string(0, 1, "电话").unwrap();
            sheet.write_string(0, 2, "created_at").unwrap();
            sheet.write_string(0, 3, "size").unwrap();
            sheet.write_string(1, 0, "c1").unwrap();
            sheet.write_number(1, 1, 13_800_138_000.0).unwrap();
            let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 3, 1).unwrap();
            let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
            sheet
                .write_datetime_with_format(1, 2, &date, &format)
                .unwrap();
            sheet.write_number(1, 3, 120.0).unwrap();
            sheet.write_string(2, 0, "c2, \"quoted\"").unwrap();
            let moment =
                rust_xlsxwriter::ExcelDateTime::parse_from_str("2026-03-01 09:30:00").unwrap();
            let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
            sheet
                .write_datetime_with_format(2, 2, &moment, &format)
                .unwrap();
        });
        let sheet = workbook_as_csv(bytes, None, beijing()).unwrap();
        assert_eq!(sheet.sheet, "客户");
        assert_eq!(sheet.first_row, 1);
        assert_eq!(
            String::from_utf8(sheet.csv).unwrap(),
            "id,电话,created_at,size\nc1,13800138000,2026-03-01,120\n\"c2, \"\"quoted\"\"\",,2026-03-01T09:30:00+08:00\n"
        );
    }

    #[test]
    fn a_missing_sheet_or_a_file_that_is_no_workbook_is_said_so() {
        let bytes = workbook(|sheet| {
            sheet.write_string(0, 0, "id").unwrap();
        });
        let error = workbook_as_csv(bytes, Some("Sheet9"), beijing()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the workbook has no sheet 'Sheet9'; its sheets: 客户"
        );
        let error = workbook_as_csv(b"id,name\n".to_vec(), None, beijing()).unwrap_err();
        assert!(
            error.to_string().starts_with("not an Excel workbook"),
            "{error}"
        );
    }
}
