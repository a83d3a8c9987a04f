//! HTTP(S) serving for strom's two servers, the REST endpoint (and web UI) and the Mesos
//! artifact server.
//!
//! - [`tls::acceptor`] loads a PEM certificate chain and private key into a rustls acceptor.
//! - [`serve`] runs an axum [`Router`](axum::Router) on a bound listener, with or without TLS,
//!   until a [`CancellationToken`](tokio_util::sync::CancellationToken) fires, then drains.
//!
//! Both servers share this so that TLS, timeouts and shutdown behave the same on both; the
//! options that differ (keep-alive) are in [`ServeOptions`].

#![forbid(unsafe_code)]

mod serve;
pub mod tls;

pub use serve::{ServeOptions, serve};
pub use tls::{TlsAcceptor, TlsError, TlsFiles};
