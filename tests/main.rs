//! The one integration-test binary: every module talks to real things (processes, sockets,
//! servers started on loopback, the Docker daemon).

mod support;

mod ansible;
mod backup;
mod bounded;
mod catalog;
mod chat_stack;
mod check_dns;
mod check_http;
mod check_tcp;
mod cli;
mod config;
mod data_gate;
mod docker_healthcheck;
mod doctor;
mod engine;
mod extremes;
mod fuzz;
mod gitlab;
mod gitlab_script;
mod heal;
mod mongo;
mod nodes;
mod operator;
mod probe;
mod render;
mod replset;
mod rocketchat;
mod secrets;
mod shipped;
mod smoke;
mod stack_files;
mod status_page;
mod swarm;
mod targets;
mod tls;
mod upgrade;
mod versions;
mod wait;
