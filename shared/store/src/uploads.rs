//! Incomplete S3 multipart uploads: a writer killed mid-upload leaves its parts in the
//! bucket, invisible to listings and billed, until someone aborts the upload. The
//! object_store crate can abort an upload by id but cannot list them, so the listing is
//! one signed `GET ?uploads` request (ListMultipartUploads) made with the store's own
//! credentials. A bucket lifecycle rule (AbortIncompleteMultipartUpload) does the same
//! on AWS; this sweep covers S3-compatible servers without one.

use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::client::{HttpRequest, HttpRequestBody};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Pages of up to 1,000 uploads read per sweep at most: bounded work per run.
const MAX_PAGES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum UploadSweepError {
    #[error("listing multipart uploads of bucket '{bucket}' failed: {why}")]
    List { bucket: String, why: String },
    #[error("aborting multipart upload {upload_id} of '{key}' failed: {source}")]
    Abort { key: String, upload_id: String, source: object_store::Error },
}

/// One multipart upload that was started and neither completed nor aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUpload {
    pub key: String,
    pub upload_id: String,
    /// When it was started, in milliseconds since the epoch.
    pub initiated_at: i64,
}

/// An S3 bucket whose incomplete multipart uploads can be listed and aborted.
#[derive(Clone, Debug)]
pub struct S3Uploads {
    store: Arc<AmazonS3>,
    bucket: String,
    /// `<endpoint>/<bucket>`, path-style as the store itself addresses the bucket.
    bucket_url: String,
    region: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    upload: Vec<UploadXml>,
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadXml {
    key: String,
    upload_id: String,
    initiated: String,
}

impl S3Uploads {
    pub fn new(store: Arc<AmazonS3>, bucket: &str, endpoint: Option<&str>, region: &str) -> Self {
        let base = match endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        Self {
            store,
            bucket: bucket.to_owned(),
            bucket_url: format!("{base}/{bucket}"),
            region: region.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Every incomplete upload in the bucket (up to the page bound), oldest first.
    pub async fn list(&self) -> Result<Vec<PendingUpload>, UploadSweepError> {
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        for _ in 0..MAX_PAGES {
            let page = self.list_page(markers.as_ref()).await?;
            for upload in page.upload {
                let initiated_at = parse_timestamp(&upload.initiated).ok_or_else(|| {
                    self.list_error(format!(
                        "upload {} of '{}' has an unreadable Initiated time '{}'",
                        upload.upload_id, upload.key, upload.initiated
                    ))
                })?;
                uploads.push(PendingUpload { key: upload.key, upload_id: upload.upload_id, initiated_at });
            }
            match (page.is_truncated, page.next_key_marker, page.next_upload_id_marker) {
                (true, Some(key), Some(id)) => markers = Some((key, id)),
                _ => break,
            }
        }
        uploads.sort_by_key(|u| u.initiated_at);
        Ok(uploads)
    }

    /// Aborts the uploads started more than `max_age` ago (younger ones may still be
    /// running) and returns how many went.
    pub async fn sweep(&self, max_age: Duration) -> Result<usize, UploadSweepError> {
        let cutoff = airlock_domain::now_millis() - max_age.as_millis() as i64;
        let mut aborted = 0;
        for upload in self.list().await?.into_iter().filter(|u| u.initiated_at <= cutoff) {
            match self.store.abort_multipart(&Path::from(upload.key.as_str()), &upload.upload_id).await {
                Ok(()) => aborted += 1,
                // Completed or aborted by its writer since the listing.
                Err(e) if crate::is_not_found(&e) => {}
                Err(source) => {
                    return Err(UploadSweepError::Abort { key: upload.key, upload_id: upload.upload_id, source })
                }
            }
        }
        Ok(aborted)
    }

    async fn list_page(&self, markers: Option<&(String, String)>) -> Result<ListResult, UploadSweepError> {
        let mut url = format!("{}?uploads", self.bucket_url);
        if let Some((key, id)) = markers {
            url.push_str(&format!("&key-marker={}&upload-id-marker={}", encode(key), encode(id)));
        }
        let credential = self
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(|e| self.list_error(format!("no credentials: {e}")))?;
        let mut request = HttpRequest::new(HttpRequestBody::empty());
        *request.uri_mut() = url.parse().map_err(|e| self.list_error(format!("url '{url}': {e}")))?;
        AwsAuthorizer::new(&credential, "s3", &self.region).authorize(&mut request, None);
        let response = self
            .http
            .get(&url)
            .headers(request.headers().clone())
            .send()
            .await
            .map_err(|e| self.list_error(e.to_string()))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.list_error(e.to_string()))?;
        if !status.is_success() {
            let excerpt: String = body.chars().take(300).collect();
            return Err(self.list_error(format!("status {status}: {excerpt}")));
        }
        quick_xml::de::from_str(&body).map_err(|e| self.list_error(format!("unreadable answer: {e}")))
    }

    fn list_error(&self, why: String) -> UploadSweepError {
        UploadSweepError::List { bucket: self.bucket.clone(), why }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as SigV4 expects.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// S3's ISO 8601 times (`2026-12-01T13:04:05.000Z`) in milliseconds since the epoch.
fn parse_timestamp(text: &str) -> Option<i64> {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_list_multipart_uploads_answer() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><IsTruncated>true</IsTruncated>
  <NextKeyMarker>chan/shard0/objects/r/v2</NextKeyMarker><NextUploadIdMarker>id-2</NextUploadIdMarker>
  <Upload><Key>chan/shard0/objects/r/v1</Key><UploadId>id-1</UploadId><Initiated>2026-12-01T13:04:05.000Z</Initiated></Upload>
  <Upload><Key>chan/shard0/objects/r/v2</Key><UploadId>id-2</UploadId><Initiated>2026-12-01T13:04:06Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page: ListResult = quick_xml::de::from_str(body).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_upload_id_marker.as_deref(), Some("id-2"));
        assert_eq!(page.upload.len(), 2);
        assert_eq!(page.upload[1].upload_id, "id-2");
        assert_eq!(parse_timestamp(&page.upload[0].initiated), Some(1_796_130_245_000));
        assert_eq!(parse_timestamp("yesterday"), None);
        let empty: ListResult = quick_xml::de::from_str("<ListMultipartUploadsResult/>").unwrap();
        assert!(empty.upload.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn encodes_markers_for_the_query() {
        assert_eq!(encode("a-to-b/shard0/x y"), "a-to-b%2Fshard0%2Fx%20y");
    }
}
