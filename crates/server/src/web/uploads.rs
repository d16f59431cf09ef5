//! The import page: upload a CSV file or an Excel workbook (.xlsx) of teams, reps, customers,
//! transactions, interactions or tickets; the same import as `allot import`, one transaction
//! per file, and every bad row shown with its line (the sheet's row), column and reason.
//! Admins only (the page table), as imports change anything.

use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{context, Value};

use allot_files::import::{import_bytes, ImportKind};
use allot_files::FileError;

use super::{checked_form, Page};
use crate::AppState;

/// The largest upload taken: a workbook of a few hundred thousand customers.
const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/import", get(import_page).post(upload))
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
}

fn kinds() -> Vec<&'static str> {
    ImportKind::ALL.iter().map(|kind| kind.plural()).collect()
}

async fn import_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<super::LanguageQuery>,
) -> Response {
    let page = match Page::open(&state, &headers, query.lang).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let values = context! {
        kinds => kinds(),
        chosen => "customers",
        ..page.common()
    };
    page.render(&headers, "import.html", values)
}

/// What the form sent.
#[derive(Default)]
struct Upload {
    csrf: String,
    kind: String,
    strict: bool,
    sheet: String,
    file_name: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, String> {
    let mut upload = Upload::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| error.to_string())?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            upload.file_name = field.file_name().unwrap_or_default().to_string();
            upload.bytes = field
                .bytes()
                .await
                .map_err(|error| error.to_string())?
                .to_vec();
            continue;
        }
        let text = field.text().await.map_err(|error| error.to_string())?;
        match name.as_str() {
            "csrf" => upload.csrf = text,
            "kind" => upload.kind = text,
            "strict" => upload.strict = !text.is_empty(),
            "sheet" => upload.sheet = text.trim().to_string(),
            _ => {}
        }
    }
    Ok(upload)
}

/// Runs the import and shows its summary and bad rows on the same page.
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the upload could not be read: {error}"),
            )
                .into_response()
        }
    };
    let (language, session) = match checked_form(&state, &headers, &upload.csrf).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let page = Page::after_form(&state, language, session);
    let outcome = match ImportKind::parse(&upload.kind) {
        None => Err(format!(
            "kind: '{}' is not one of {}",
            upload.kind,
            kinds().join(", ")
        )),
        Some(_) if upload.bytes.is_empty() => Err(page.word("no_file").to_string()),
        Some(kind) => {
            let sheet = (!upload.sheet.is_empty()).then_some(upload.sheet.as_str());
            match import_bytes(
                &state.store,
                kind,
                &upload.file_name,
                upload.bytes,
                sheet,
                upload.strict,
                state.clock.now(),
            )
            .await
            {
                Ok(summary) => Ok(summary),
                Err(FileError::Store(error)) => match super::error_in_words(language, error) {
                    Ok(text) => Err(text),
                    Err(error) => return crate::ApiError::from(error).into_response(),
                },
                Err(error) => Err(error.to_string()),
            }
        }
    };
    let (summary, error) = match outcome {
        Ok(summary) => (Some(summary), None),
        Err(error) => (None, Some(error)),
    };
    let bad_rows = summary.as_ref().map_or(0, |summary| {
        summary
            .problems
            .iter()
            .map(|problem| problem.line)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    });
    let status = if error.is_some() || bad_rows > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let values = context! {
        kinds => kinds(),
        chosen => upload.kind,
        strict => upload.strict,
        sheet => upload.sheet,
        file_name => upload.file_name,
        summary => summary.as_ref().map(Value::from_serialize),
        bad_rows => bad_rows,
        error => error,
        ..page.common()
    };
    let mut response = page.render(&headers, "import.html", values);
    *response.status_mut() = status;
    response
}
