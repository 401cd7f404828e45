"""What RabbitMQ does that Warren does not do yet: the management-plane tests (written and passed
against RabbitMQ 3.10.8) that fail on Warren, each with why. On Warren they run as strict xfails
(conftest.py), so a gap that gets closed fails the suite until it is struck off here; against
RabbitMQ they run as every other test. This list is issue 16's remaining work."""

GAPS = {
    # -- authorisation details --------------------------------------------------------------
    "test_management_auth.py::test_management_user_is_refused_admin_endpoints":
        "a management user may read GET /api/vhosts/{vhost} (RabbitMQ: Not administrator user)",
    "test_management_auth.py::test_monitoring_user_sees_all_but_changes_nothing":
        "a monitoring user without permissions in a vhost is shown its queues",
    "test_management_auth.py::test_another_administrator_sees_everything":
        "an administrator without permissions in a vhost cannot act in it through the API",
    # -- answers --------------------------------------------------------------------------------
    "test_management_admin.py::test_bulk_delete": "one refusal of bulk-delete is not RabbitMQ's",
    "test_management_admin.py::test_definitions_of_a_vhost":
        "a vhost's export lists Warren's predeclared xivo and wazo-headers exchanges",
    "test_management_admin.py::test_definitions_import_round_trip":
        "an export lists Warren's predeclared xivo and wazo-headers exchanges",
    "test_management_bindings.py::test_binding_lists":
        "GET /api/bindings lists bindings in another order or form",
    "test_management_errors.py::test_wrong_json_type_for_a_field":
        "a wrong JSON type for a field is not answered in RabbitMQ's words",
    "test_management_exchanges.py::test_the_default_exchange_is_amq_default":
        "an empty name segment (//) does not name the default exchange: trailing slashes are trimmed",
}
