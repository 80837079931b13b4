//! `get`: one object.

use axum::response::Response;
use http::StatusCode;
use skiff_api::status::ApiError;
use skiff_store::Store;

use super::{Ctx, object_response};
use crate::state::Api;

/// GET of one object (also serves `/status`, which is the same object).
pub async fn get<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let (obj, _) = api.read(&ctx.res, ctx.ns(), ctx.name()).await?;
    object_response(ctx, StatusCode::OK, obj)
}
