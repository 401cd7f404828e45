"""What RabbitMQ does that Warren does not do yet: the management-plane tests (written and passed
against RabbitMQ 3.10.8) that fail on Warren, each with why. On Warren they run as strict xfails
(conftest.py), so a gap that gets closed fails the suite until it is struck off here; against
RabbitMQ they run as every other test. Empty: every gap issue 16 listed is closed."""

GAPS: dict[str, str] = {}
