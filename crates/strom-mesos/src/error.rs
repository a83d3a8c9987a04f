//! Errors of calls to the Mesos master.

use reqwest::{StatusCode, Url};

/// Why a call to (or a subscription with) the Mesos master failed.
#[derive(Debug, thiserror::Error)]
pub enum MesosError {
    /// A call was made before SUBSCRIBED (or while disconnected): there is no stream ID to send.
    #[error("not subscribed to the mesos master: no Mesos-Stream-Id yet")]
    NotSubscribed,
    /// The master answered with an error status; `body` is its explanation.
    #[error("mesos master {url} answered {status}: {body}")]
    Status {
        /// The URL the call went to.
        url: Url,
        /// The status code.
        status: StatusCode,
        /// The master's body text (shortened).
        body: String,
    },
    /// 503: the master has no elected leader or is not ready yet; retry later.
    #[error("mesos master {url} is not ready or has no elected leader (503): {body}")]
    Unavailable {
        /// The URL the call went to.
        url: Url,
        /// The master's body text (shortened).
        body: String,
    },
    /// The HTTP client cannot be built (TLS setup).
    #[error("cannot build the http client")]
    HttpClient(#[source] reqwest::Error),
    /// Sending the request or reading the response failed.
    #[error("request to mesos master {url} failed")]
    Http {
        /// The URL the call went to.
        url: Url,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the request timeout.
    #[error("request to mesos master {url} timed out after {timeout:?}")]
    Timeout {
        /// The URL the call went to.
        url: Url,
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// Masters kept redirecting (a redirect loop, or no leader settling).
    #[error("more than {max} redirects starting at mesos master {url}")]
    TooManyRedirects {
        /// The first URL.
        url: Url,
        /// The redirect limit.
        max: u32,
    },
    /// A 307 without a usable `Location` header.
    #[error("mesos master {url} redirected to an invalid location `{location}`")]
    BadRedirect {
        /// The redirecting URL.
        url: Url,
        /// The `Location` header, lossily decoded.
        location: String,
    },
    /// The SUBSCRIBE answer lacked the `Mesos-Stream-Id` header.
    #[error("mesos master {url} answered SUBSCRIBE without a Mesos-Stream-Id header")]
    MissingStreamId {
        /// The URL subscribed to.
        url: Url,
    },
    /// The call could not be encoded as JSON.
    #[error("cannot encode the call as json")]
    Encode(#[from] serde_json::Error),
}
