//! strom's end-to-end tests, one binary for the whole folder (one link of the binary's
//! dependencies instead of one per file): each module is a file beside this one and starts the
//! real `strom` binary, the real Mesos and ZooKeeper on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/faults.rs"]
mod faults;
#[path = "support/forwarder.rs"]
mod forwarder;
#[path = "support/services.rs"]
mod services;
#[path = "support/lib.rs"]
mod support;

mod checkpoints;
mod cli_client;
mod cli_errors;
mod cli_progress;
mod connectors_jdbc;
mod connectors_kafka;
mod connectors_kafka_faults;
mod faults_disk_full;
mod faults_mesos;
mod faults_partition;
mod flink_cli;
mod flink_conf;
mod flink_dashboard;
mod local_cluster;
mod local_wordcount;
mod mesos_appmaster;
mod mesos_docker;
mod mesos_framework_removed;
mod mesos_ha;
mod metrics_and_logs;
mod rest_flink;
mod rest_tls;
mod sql_client;
mod sql_jobs;
mod sql_nexmark;
mod sql_nexmark_suite;
mod storage_s3;
mod web_ui;
