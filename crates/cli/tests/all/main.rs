//! End-to-end tests: the real `skiff` binary, real guest programs, a fresh `SKIFF_ROOT` each.

mod cache;
mod compose;
mod crash;
mod daemon;
mod dashboard;
mod disk;
mod documented;
mod errors;
mod features;
mod health;
mod hostile_images;
mod http;
mod images;
mod invoke;
mod languages;
mod links;
mod programs;
mod registry;
mod spin_mysql;
mod spin_postgres;
mod support;
mod system;
mod tenants;
mod wasi_testsuite;
mod wasip3;
mod wasmtime_flags;
