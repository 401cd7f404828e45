//! The method handlers, one module per AMQP class. Each is an `impl Connection` block: a
//! handler checks its arguments, acts on the vhost, and answers on the channel it came from.

mod ack;
mod basic;
mod exchange;
mod publish;
mod queue;
mod tx;
