//! Reading requests at the edge: path ids, JSON object bodies with the keys they carried, and query text.
//!
//! Every failure becomes an `ApiError` naming the field, so no extractor answers in plain text.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

use allot_core::update::GivenColumns;
use allot_core::FieldError;

use crate::error::{field_from_serde_message, ApiError, ApiResult};

/// The `{id}` of a path, as text; a path that is not valid UTF-8 or percent-encoding is a 400.
pub(crate) struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PathId(id)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
            )
            .with_field("id")),
        }
    }
}

impl PathId {
    /// The id checked as a domain identifier.
    pub(crate) fn parse<T>(&self, parse: fn(&str, &str) -> Result<T, FieldError>) -> ApiResult<T> {
        parse("id", &self.0).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
                .with_field("id")
        })
    }
}

/// The body of a call whose options are in the query string: it must be empty, so options
/// sent as JSON are refused rather than silently ignored.
pub(crate) struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = Bytes::from_request(request, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(NoBody)
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "this call takes no body: give its options in the query string (?at=…&force=true)",
            ))
        }
    }
}

/// A JSON body that must be an object, read into `T`, with the keys it carried: updates change
/// only those. serde would otherwise accept an array for a struct, field by field.
pub(crate) fn object_body<T: DeserializeOwned>(
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(T, GivenColumns)> {
    let Json(value) = body?;
    let Value::Object(map) = value else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body must be a JSON object",
        ));
    };
    if let Some(attributes) = map.get("attributes") {
        if !matches!(attributes, Value::Object(_) | Value::Null) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "attributes must be an object of KEY: value",
            )
            .with_field("attributes"));
        }
    }
    let given = GivenColumns::of_json(&map);
    // The path names the field even when the failure is inside a value (`attributes.note`).
    let record = serde_path_to_error::deserialize(Value::Object(map)).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = match path.as_str() {
            "." | "" => field_from_serde_message(&message),
            path => Some(path.to_string()),
        };
        let api = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            match &field {
                Some(field) => format!("{field}: {message}"),
                None => message,
            },
        );
        match field {
            Some(field) => api.with_field(field),
            None => api,
        }
    })?;
    Ok((record, given))
}

/// A JSON body that must be there, read into `T`; 400 naming the field serde names.
pub(crate) fn required_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|error| {
        let message = error.to_string();
        let api = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message.clone());
        match field_from_serde_message(&message) {
            Some(field) => api.with_field(field),
            None => api,
        }
    })
}

/// An optional JSON object body: empty means every field left out.
pub(crate) fn optional_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required_body(body)
}

/// A record's numeric id from the path (`what`: "transfer", "conflict").
pub(crate) fn numeric_id(field: &str, raw: &str, what: &str) -> Result<i64, FieldError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| FieldError::new(field, format!("'{raw}' is not a {what} id")))
}

/// A page size from the query string: `default` when absent, else 1 to `maximum`.
pub(crate) fn page_limit(limit: Option<i64>, default: i64, maximum: i64) -> ApiResult<i64> {
    let limit = limit.unwrap_or(default);
    if (1..=maximum).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("limit must be 1 to {maximum}"),
        )
        .with_field("limit"))
    }
}

/// A text filter from the query string, checked like the field it filters on.
pub(crate) fn query_value<T>(
    field: &str,
    raw: Option<String>,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> ApiResult<Option<T>> {
    match raw {
        None => Ok(None),
        Some(raw) if raw.trim().is_empty() => Ok(None),
        Some(raw) => parse(field, &raw).map(Some).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
                .with_field(field)
        }),
    }
}
