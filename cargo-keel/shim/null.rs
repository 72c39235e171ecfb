//! keel_foreign_null: the five entry points as no-ops, linked (as one object file) into build
//! scripts and proc macros, which may use an instrumented crate but never link keel-runtime:
//! their instrumented calls cost a call and report nothing.
#![no_std]
#![allow(missing_docs)]

use core::ffi::c_void;

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_enter(_site: *const c_void) -> *mut c_void {
    core::ptr::null_mut()
}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_exit(_span: *mut c_void, _outcome: u32, _err: *const u8, _len: usize) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_abandon(_span: *mut c_void) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_resume(_span: *mut c_void) {}

#[unsafe(no_mangle)]
pub extern "C" fn keel_foreign_suspend(_span: *mut c_void) {}
