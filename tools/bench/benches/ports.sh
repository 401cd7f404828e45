# Helpers shared by compare.sh and management.sh (sourced): free ports, waiting for them.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until 127.0.0.1:$1 accepts connections, at most $2 seconds.
wait_port() {
    local port="$1" limit="$2" i
    for ((i = 0; i < limit * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Waits until nothing listens on 127.0.0.1:$1 (at most 10 s).
wait_port_free() {
    local i
    for ((i = 0; i < 100; i++)); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
}
