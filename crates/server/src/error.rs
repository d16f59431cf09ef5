//! The API's one error type: every failure becomes `{"error":{"code","message","field"}}` with a fitting status.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use allot_core::{FieldError, FieldErrors};
use allot_store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// Error envelope of every failed call.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code: bad_request, unauthorized, forbidden, not_found,
    /// method_not_allowed, conflict, payload_too_large, invalid, internal; a refused ownership
    /// step names its rule: owned, holding_cap, claim_limit, cooldown, inactive, absent,
    /// not_owner, open_transfer, not_approver, transfer_state.
    pub code: String,
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer TOKEN with a valid API token",
        )
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(message = %self.message, "request failed");
        }
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::invalid(error.field.clone(), error.to_string())
    }
}

/// Every problem goes into the message; `field` names the first.
impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::invalid(errors.first().field.clone(), errors.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            StoreError::Conflict { ref field, .. } | StoreError::Refused { ref field, .. } => {
                let api = ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string());
                match field.clone() {
                    Some(field) => api.with_field(field),
                    None => api,
                }
            }
            StoreError::Invalid(field_error) => field_error.into(),
            StoreError::InvalidRecord(field_errors) => field_errors.into(),
            StoreError::Rules(ref problems) | StoreError::Policy(ref problems) => {
                let api = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    error.to_string(),
                );
                let document = if matches!(error, StoreError::Policy(_)) {
                    "policy"
                } else {
                    "rules"
                };
                match problems.first().and_then(|problem| problem.field.clone()) {
                    Some(field) => api.with_field(field),
                    None => api.with_field(document),
                }
            }
            StoreError::NoRules => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            StoreError::Denied { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            StoreError::ClaimRefused(ref refusal) => {
                ApiError::new(StatusCode::CONFLICT, refusal.code(), refusal.message())
            }
            StoreError::Forbidden(message) => ApiError::forbidden(message),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

/// Pulls the field name out of serde's "unknown field `x`" / "missing field `x`" texts, or out
/// of the path axum and serde put before a failing value ("limit: invalid digit found").
pub(crate) fn field_from_serde_message(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            return rest.find('`').map(|end| rest[..end].to_string());
        }
    }
    let detail = [
        "Failed to deserialize query string: ",
        "Failed to deserialize the JSON body into the target type: ",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))
    .unwrap_or(message);
    detail
        .split_once(": ")
        .map(|(path, _)| path.trim().to_string())
        .filter(|path| {
            !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '[' || c == ']')
        })
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::payload_too_large(message);
        }
        let api = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message.clone());
        match field_from_serde_message(&message) {
            Some(field) => api.with_field(field),
            None => api,
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        let message = rejection.body_text();
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(message)
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let message = rejection.body_text();
        let api = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message.clone());
        match field_from_serde_message(&message) {
            Some(field) => api.with_field(field),
            None => api,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
