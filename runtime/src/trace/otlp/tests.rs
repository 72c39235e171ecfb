//! The traced thread's side of the queue, where the one `unsafe` block is (Miri runs these).

use super::pipeline::Pipeline;
use super::record::{ELAPSED_MASK, PackedOutcome, RecordSource};
use super::ring::LocalRing;
use super::sink::OtlpSink;
use crate::call::CurrentCall;
use crate::trace::CallSite;
use crate::trace::dispatch::FinishedCall;
use crate::trace::event::{Outcome, Value};
use crate::trace::id::TraceKey;
use std::sync::Arc;
use std::sync::atomic::Ordering;

static SITE: CallSite = CallSite::new("otlp::tests::load", "otlp::tests", "mod.rs", 1);
static PARENT: CallSite = CallSite::new("otlp::tests::page", "otlp::tests", "mod.rs", 2);

fn pipeline(queue_capacity: usize) -> Arc<Pipeline> {
    let config = OtlpSink::builder()
        .endpoint("http://127.0.0.1:9/v1/traces")
        .service_name("otlp-tests") // not from the environment (Miri isolates it)
        .queue_capacity(queue_capacity)
        .check()
        .unwrap();
    Pipeline::new(config)
}

fn exit<'a>(
    call_id: u64,
    outcome: &'a Outcome,
    value: Option<&'a Value>,
    elapsed_nanos: u64,
) -> FinishedCall<'a> {
    FinishedCall {
        site: &SITE,
        call_id,
        trace: TraceKey::local_root(3, true),
        parent: Some(CurrentCall {
            call_id: 3,
            site: &PARENT,
            trace: TraceKey::local_root(3, true),
        }),
        end: 1_234,
        elapsed_nanos,
        outcome,
        value,
    }
}

fn push_exit(ring: &mut LocalRing, exit: &FinishedCall<'_>) {
    ring.push(&RecordSource::Exit(exit));
}

#[test]
fn a_record_written_in_its_slot_reads_back_whole() {
    let pipeline = pipeline(8);
    let mut ring = pipeline.new_ring();
    let failed = Outcome::Err("disk full".to_string());
    let text = "Err(\"disk full\")".to_string();
    let value = Value::Text(text.clone());
    push_exit(&mut ring, &exit(7, &failed, Some(&value), 99));
    push_exit(&mut ring, &exit(8, &Outcome::Ok, None, u64::MAX));
    assert_eq!(ring.counts.spans.load(Ordering::Relaxed), 2);

    let mut rings = pipeline.rings.lock().unwrap();
    let first = rings[0].records.pop().expect("queued");
    assert_eq!(first.site.map(CallSite::name), Some("otlp::tests::load"));
    assert_eq!((first.call_id, first.parent, first.end), (7, 3, 1_234));
    assert_eq!(first.trace(), TraceKey::local_root(3, true));
    assert_eq!(first.elapsed_nanos(), 99);
    assert_eq!(first.outcome(), PackedOutcome::Err);
    assert!(!first.remote_parent());
    assert!(first.migrated(), "call 7 was not entered on this thread");
    let extra = first.extra.expect("an error and a value");
    assert_eq!(extra.error.as_deref(), Some("disk full"));
    assert_eq!(
        extra.fields.iter().collect::<Vec<_>>(),
        [("return", super::record::Packed::Text(text.as_str()))]
    );

    let second = rings[0].records.pop().expect("queued");
    assert_eq!(second.outcome(), PackedOutcome::Ok);
    assert_eq!(
        second.elapsed_nanos(),
        ELAPSED_MASK,
        "saturated, flags intact"
    );
    assert_eq!(second.trace(), TraceKey::local_root(3, true));
    assert!(second.extra.is_none(), "nothing rare: nothing boxed");
    assert!(rings[0].records.pop().is_err());
}

#[test]
fn a_full_queue_drops_and_counts_spans_and_keeps_what_it_holds() {
    let pipeline = pipeline(2);
    let mut ring = pipeline.new_ring();
    for call_id in 10..15 {
        push_exit(
            &mut ring,
            &exit(call_id, &Outcome::Ok, Some(&Value::U64(1)), 1),
        );
    }
    let stats = pipeline.stats();
    assert_eq!((stats.queued, stats.dropped), (2, 3), "{stats}");
    let mut rings = pipeline.rings.lock().unwrap();
    let kept: Vec<u64> = std::iter::from_fn(|| rings[0].records.pop().ok())
        .map(|record| record.call_id)
        .collect();
    assert_eq!(
        kept,
        [10, 11],
        "the first spans stay, the later ones are dropped"
    );
    drop(rings);
    // Room again: the next span is accepted. Records left in a queue are freed with it.
    push_exit(
        &mut ring,
        &exit(15, &Outcome::Panicked, Some(&Value::U64(1)), 1),
    );
    assert_eq!(pipeline.stats().queued, 3);
}

#[test]
fn fields_pack_into_one_buffer_and_come_back_in_order() {
    use super::record::{Fields, Packed};
    let long = "x".repeat(70_000);
    let fields = [
        ("id", Packed::Text("42")),
        ("", Packed::Text("")),
        ("path", Packed::Str("/orders/é")),
        ("big", Packed::Text(long.as_str())),
        ("n", Packed::Int(-3)),
        ("u", Packed::UInt(u64::MAX)),
        ("x", Packed::Double(1.5)),
        ("ok", Packed::Bool(true)),
    ];
    let packed = Fields::pack(fields.iter().copied());
    assert_eq!(packed.iter().collect::<Vec<_>>(), fields);
    assert!(Fields::pack(std::iter::empty()).is_empty());
    assert_eq!(Fields::default().iter().count(), 0);
}

#[test]
fn while_the_receiver_fails_spans_are_shed_before_they_are_queued_and_counted() {
    let pipeline = pipeline(8);
    let mut ring = pipeline.new_ring();
    pipeline.shedding.0.store(true, Ordering::Relaxed);
    for call_id in 1..4 {
        push_exit(&mut ring, &exit(call_id, &Outcome::Ok, None, 1));
    }
    let fields = [("id", crate::trace::FieldValue::U64(4))];
    ring.push(&RecordSource::EnterFields {
        call_id: 4,
        fields: &fields,
    });
    let stats = pipeline.stats();
    assert_eq!(
        (stats.queued, stats.failed, stats.shed, stats.dropped),
        (3, 3, 3, 0),
        "taken and shed at once, entries not counted: {stats}"
    );
    assert_eq!(
        pipeline.rings.lock().unwrap()[0].records.slots(),
        0,
        "nothing queued"
    );

    // The receiver is back: spans are queued again.
    pipeline.shedding.0.store(false, Ordering::Relaxed);
    push_exit(&mut ring, &exit(5, &Outcome::Ok, None, 1));
    let stats = pipeline.stats();
    assert_eq!((stats.queued, stats.shed), (4, 3), "{stats}");
    let mut rings = pipeline.rings.lock().unwrap();
    assert_eq!(
        rings[0].records.pop().map(|record| record.call_id).ok(),
        Some(5)
    );
}
