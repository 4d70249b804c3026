"""Hostile and ordinary TLS clients against a terminate_tls server whose route echoes, for a while, from several
threads; a real peer with its own TLS stack (Python's ssl, OpenSSL underneath). Prints one JSON object: how many
of each scenario ran, and any echo mismatch or failure to connect (a refused or hung connection is a defect)."""
import json, os, random, socket, ssl, struct, sys, threading, time

port, seconds, threads, ca = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
context = ssl.create_default_context(cafile=ca)
counts, problems, lock = {}, [], threading.Lock()


def note(name):
    with lock:
        counts[name] = counts.get(name, 0) + 1


def reset(sock):
    # SO_LINGER 0: close sends RST instead of FIN.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def drain(sock):
    try:
        while socket.socket.recv(sock, 65536):
            pass
    except OSError:
        pass


def scenario(kind, raw):
    if kind == "partial_hello_reset":
        raw.sendall(bytes([22, 3, 1, 2, 0, 1, 0, 1, 252]) + os.urandom(random.randrange(50)))
        reset(raw)
        return
    tls = context.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
    tls.do_handshake()
    if kind == "handshake_reset":
        reset(tls)
    elif kind == "echo":
        data = os.urandom(random.randrange(1, 200000))
        tls.sendall(data)
        got = bytearray()
        while len(got) < len(data):
            chunk = tls.recv(65536)
            if not chunk:
                break
            got += chunk
        if bytes(got) != data:
            with lock:
                problems.append("echo mismatch: sent %d bytes, got %d back" % (len(data), len(got)))
        tls.close()
    elif kind == "flood_reset":
        try:
            for _ in range(random.randrange(1, 40)):
                tls.sendall(os.urandom(65536))
        except OSError:
            pass
        reset(tls)
    elif kind == "fin_without_close_notify":
        tls.sendall(os.urandom(10000))
        tls.shutdown(socket.SHUT_WR)
        drain(tls)
        tls.close()
    elif kind == "close_notify_while_echo_flows":
        tls.sendall(os.urandom(100000))
        try:
            tls.unwrap()
        except (OSError, ValueError):
            pass
        tls.close()
    elif kind == "idle_past_timeout":
        tls.settimeout(5)
        try:
            tls.recv(10)
        except OSError:
            pass
        tls.close()
    elif kind == "reset_mid_echo":
        tls.sendall(os.urandom(300000))
        time.sleep(random.random() * 0.02)
        reset(tls)
    elif kind == "garbage_record":
        socket.socket.sendall(tls, bytes([23, 3, 3, 0, 40]) + os.urandom(40))
        drain(tls)
        tls.close()
    elif kind == "close_notify_then_reset":
        try:
            tls.unwrap()
        except (OSError, ValueError):
            pass
        reset(tls)


kinds = ["partial_hello_reset", "handshake_reset", "echo", "flood_reset", "fin_without_close_notify",
         "close_notify_while_echo_flows", "idle_past_timeout", "reset_mid_echo", "garbage_record", "close_notify_then_reset"]


def worker(end):
    while time.time() < end:
        kind = random.choice(kinds)
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError as e:
            with lock:
                problems.append("connect: %r" % e)
            time.sleep(0.05)
            continue
        try:
            scenario(kind, raw)
        except (OSError, ssl.SSLError):
            # The client's own abuse (a reset it sent, a garbage record) can surface here; tpt's side is judged by
            # its log, its sockets and the echo scenario.
            pass
        finally:
            raw.close()
        note(kind)


end = time.time() + seconds
workers = [threading.Thread(target=worker, args=(end,)) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps({"counts": counts, "problems": problems[:20]}))
