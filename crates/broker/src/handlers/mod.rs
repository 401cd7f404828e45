//! The method handlers, one module per AMQP class. Each is an `impl Connection` block: a
//! handler checks its arguments, acts on the vhost, and answers on the channel it came from.

mod basic;
mod exchange;
mod queue;
