//! `contextvars` → `keel::context`: request-local values that follow the work into thread pools
//! and async tasks.

use crate::measure::{Table, ns, per_call};
use keel::context::{self, Context, ContextVar};
use std::hint::black_box;
use std::sync::mpsc;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<u64> = ContextVar::new("user");

pub fn run() {
    println!("python: request_id.set('req-42'); pool.submit(copy_context().run, task)");
    let token = REQUEST_ID.set("req-42".into());
    let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let worker = std::thread::spawn(move || rx.into_iter().for_each(|job| job()));
    let (seen_tx, seen_rx) = mpsc::channel();
    let wrapped = seen_tx.clone();
    tx.send(Box::new(context::wrap(move || {
        wrapped.send(REQUEST_ID.get()).unwrap()
    })))
    .unwrap();
    tx.send(Box::new(move || seen_tx.send(REQUEST_ID.get()).unwrap()))
        .unwrap();
    let (with_wrap, without) = (seen_rx.recv().unwrap(), seen_rx.recv().unwrap());
    drop(tx);
    worker.join().unwrap();
    println!("worker thread, context::wrap(task): {with_wrap:?}; plain task: {without:?}");
    assert_eq!(with_wrap.as_deref(), Some("req-42"));
    assert_eq!(without, None);

    let mut ctx = Context::current();
    ctx.run(|| drop(REQUEST_ID.set("req-43".into())));
    println!(
        "set inside ctx.run stays in ctx: ctx has {:?}, caller still has {:?}",
        ctx.get(&REQUEST_ID),
        REQUEST_ID.get()
    );
    REQUEST_ID
        .reset(token)
        .expect("same variable, same context");

    let _user = USER.set(7);
    let _request = REQUEST_ID.set("req-44".into());
    let mut table = Table::new(&["keel::context, per call (median of 7 rounds)", "time"]);
    table
        .row(&[
            &"ContextVar::get (u64)",
            &ns(per_call(2_000_000, || black_box(&USER).get())),
        ])
        .row(&[
            &"ContextVar::get (String, cloned)",
            &ns(per_call(200_000, || black_box(&REQUEST_ID).get())),
        ])
        .row(&[
            &"ContextVar::with (String, borrowed)",
            &ns(per_call(200_000, || {
                black_box(&REQUEST_ID).with(|id| id.map(String::len))
            })),
        ])
        .row(&[
            &"Context::current() (a snapshot)",
            &ns(per_call(1_000_000, Context::current)),
        ])
        .row(&[
            &"ContextVar::set (u64)",
            &ns(per_call(200_000, || black_box(&USER).set(8))),
        ])
        .row(&[
            &"ctx.run(|| get)",
            &ns(per_call(200_000, || ctx.run(|| USER.get()))),
        ]);
    table.print();
}
