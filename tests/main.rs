//! The one integration-test binary: every module talks to real things (processes, sockets,
//! servers started on loopback, the Docker daemon).

mod support;

mod check_dns;
mod check_http;
mod check_tcp;
mod cli;
mod docker_healthcheck;
mod engine;
mod mongo;
mod probe;
mod rocketchat;
mod smoke;
mod wait;
