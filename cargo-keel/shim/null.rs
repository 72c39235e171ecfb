//! keel_foreign_null: the entry points as no-ops, linked (as one object file) into build scripts
//! and proc macros, which may use an instrumented crate but never link keel-runtime: their
//! state word says "off" for good, so their instrumented calls cost two loads and a branch and
//! report nothing.
#![no_std]
#![allow(missing_docs)]

use core::ffi::c_void;
use core::sync::atomic::AtomicU64;

static OFF: AtomicU64 = AtomicU64::new(0);

#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static keel_foreign_state: &AtomicU64 = &OFF;

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_enter(_site: *const c_void, _slot: *mut c_void) -> bool {
    false
}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_exit(_slot: *mut c_void, _outcome: u32, _err: *const u8, _len: usize) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_exit_ok(_slot: *mut c_void) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_abandon(_slot: *mut c_void) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_resume(_slot: *mut c_void) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_suspend(_slot: *mut c_void) {}
