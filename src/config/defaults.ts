// Voltlane's built-in defaults: the typed DEFAULT_CONFIG and DEFAULT_CONFIG_TOML, the
// commented connserver.toml written on first start (a test keeps the two equal).
import { deepFreeze, type Config } from './schema.js';

export const DEFAULT_CONFIG: Config = deepFreeze({
  general: { logLevel: 'info', inspectPort: 0, workers: 1, refusalLogIntervalSecs: 10, keyFile: 'voltlane.key', releaseIdleMemory: true },
  listener: { address: { host: '127.0.0.1', port: 42000 } },
  master: {
    address: { host: '127.0.0.1', port: 42001 },
    channelCapacity: 32768,
    channelCapacityBytes: 67_108_864,
    reconnectMinMs: 100,
    reconnectMaxMs: 5000,
  },
  clients: {
    channelCapacity: 8192,
    channelCapacityBytes: 4_194_304,
    staleTimeoutSecs: 300,
    staleReapIntervalSecs: 15,
    missedPacketsBufferSize: 0,
    missedPacketsBufferBytes: 1_048_576,
    maxStaleClients: 65535,
  },
  limits: {
    maxFrameSize: 8_388_599,
    handshakeTimeoutSecs: 10,
    maxConnections: 100_000,
    maxConnectionsPerAddress: 1024,
    newConnectionsPerAddressPerSec: 200,
    newConnectionsBurst: 400,
    maxHandshakesInFlight: 4096,
    frameTimeoutSecs: 30,
    minFrameBytesPerSec: 1024,
    failedResumesPerAddressPerMin: 60,
    maxStaleSharePerAddress: 0.25,
    clientBufferBudgetBytes: 'auto',
  },
  http: { address: null },
  cluster: { redisUrl: '', keyPrefix: 'voltlane', memberTimeoutSecs: 5 },
  tls: { address: null, certFile: '', keyFile: '', caFile: '' },
  websocket: { address: null, path: '/', tls: false, allowedOrigins: [] },
  state: { persistSessions: true, dir: '' },
});

export const DEFAULT_CONFIG_TOML = `# connserver.toml: configuration of the Voltlane edge connection server.
#
# Voltlane wrote this file with good starting defaults the first time it ran.
# Tweak it to suit your product; every key is explained right above it.
#
# Any key can also be set without editing this file, through an environment
# variable named VOLTLANE_<SECTION>_<KEY> in capitals (for example
# VOLTLANE_CLIENTS_STALE_TIMEOUT_SECS=60 or VOLTLANE_LOG_LEVEL=debug), or in a
# .env file in the directory Voltlane starts in. Strongest first: command-line
# flags (--listen, --master, --log-level), the environment, .env, this file.
#
# SIGHUP (systemctl reload voltlane) reads this file and .env again. The log
# level, limits, timeouts and buffer sizes apply to new connections, frames
# and packets at once. Keys that need a restart are logged as such and left
# as they are: [listener], master.address, master.channel_capacity(_bytes),
# general.key_file, general.workers, general.inspect_port,
# limits.max_frame_size, limits.client_buffer_budget_bytes,
# clients.stale_timeout_secs, clients.stale_reap_interval_secs, and the
# [http], [cluster], [tls], [websocket] and [state] sections. A file with an
# error changes nothing; the log says why.
#
# Two common setups:
#
# - Simple firehose: you just want N client streams turned into 1 stream. The
#   defaults are perfectly fine for you; you might only want to adjust
#   general.log_level and clients.stale_timeout_secs.
#
# - Game server: turn up clients.missed_packets_buffer_size (256 is a good
#   start), and set clients.channel_capacity to at least twice that, for
#   seamless and lossless reconnection: packets sent while a player's
#   connection is down are buffered and resent when the player reconnects.
#   Then turn clients.stale_timeout_secs down to a reasonable window for
#   intermittent connection loss, such as 30.

[general]
# Logging verbosity: Off, Error, Warn, Info, Debug or Trace (any case).
# Debug and Trace are chatty; use them to chase a problem, not in production.
log_level = "Info"

# Port of the local relay for the Stately inspector (https://stately.ai/inspect),
# on 127.0.0.1: integer from 0 to 65535; 0 turns it off (the default). With a
# port, Voltlane prints a URL to open in a browser and streams the supervisor
# and a sample of the session machines to it (see --inspect-sessions and
# --inspect-id). Same as the --inspect PORT flag.
inspect_port = 0

# Processes serving the listener on this machine: "auto" (one per core) or an
# integer from 1 to 1024. Default 1: one process, as simple as it gets. With
# more, the processes share the listening port and form one cluster: a client
# may resume on any of them. Without [cluster] redis_url the first process
# holds the sessions' shared records; with it, Redis does.
workers = 1

# Refused connections and handshakes are logged at most once per reason and
# client address per this many seconds: the first at once, the rest summed up
# in one line at the end of the interval ("... and 812 more in the last 10 s"),
# so a flood cannot flood the log. /metrics counts every refusal exactly.
# Integer from 0 to 86400; 0 logs every refusal on its own line.
refusal_log_interval_secs = 10

# The edge's secret key (secp256k1). Relative paths are read from the
# directory of this file. Created (mode 0600) on first start when missing, or
# by voltlane init. Clients check this key when they resume, so keep the file
# across restarts and upgrades, back it up, and give every edge of a cluster
# the same file: a new key fails every client's resume. It may be readable by
# its owner and its group (mode 0600 or 0640, for example root:voltlane or a
# mounted secret); a key that others can read, or its group can write, is
# refused. Needs a restart to change.
key_file = "voltlane.key"

# A burst of new connections makes the JavaScript engine grow its young
# generation (up to 32 MiB), and an edge that then sits idle with its clients
# would keep that memory for a long while. true (the default): once the edge
# has been idle for a few seconds after a burst, it asks for a small garbage
# collection (about a millisecond) so the memory goes back to the system;
# nothing happens while the edge is busy. false leaves it to the engine.
release_idle_memory = true

[listener]
# Address to listen on for clients, as host:port. For example 127.0.0.1:42000,
# 0.0.0.0:42000 (every IPv4 interface), [::1]:42000 or ::1:42000 (IPv6), or
# test.example.com:6969. Port 0 lets the system pick a free port.
address = "127.0.0.1:42000"

[master]
# Address of the master server (your backend), as host:port. For example
# test.example.com:1234, 10.12.1.0:33445 or localhost:8080. Voltlane keeps one
# connection (the firehose) to it and reconnects by itself if it drops; clients
# stay connected meanwhile. Port 1 to 65535.
address = "127.0.0.1:42001"

# Capacity of the buffer for packets to the master, in packets: integer, at
# least 1. Packets wait here while the master link is down or the master is
# slow to read. Past this, Voltlane pauses reading from clients until the
# master catches up, so nothing is lost, but clients slow down. The higher the
# number, the higher the potential memory usage. Make this high if your master
# is likely to be hammered with messages and sometimes fall behind; it depends
# heavily on your use case, so tweak it.
channel_capacity = 32768

# The same bound in bytes: integer, at least 1. Whichever of the two limits is
# reached first applies. Default 67108864 (64 MiB).
channel_capacity_bytes = 67108864

# Wait before the first attempt to reconnect to the master, in milliseconds:
# integer from 1 to 2147483647, at most reconnect_max_ms. The wait grows after
# each failed attempt.
reconnect_min_ms = 100

# Longest wait between attempts to reconnect to the master, in milliseconds:
# integer from 1 to 2147483647, at least reconnect_min_ms.
reconnect_max_ms = 5000

[clients]
# Capacity of the buffer for packets to one client, in packets: integer, at
# least 1. A client that cannot keep up and lets this many packets pile up is
# disconnected as too slow (it goes stale and may reconnect); it never slows
# the others down. The higher the number, the more memory a slow client may
# take; too small, and clients on a shaky network get dropped. One of the most
# powerful performance dials. With missed packet buffering on, make this at
# least twice missed_packets_buffer_size.
channel_capacity = 8192

# The same bound in bytes, per client: integer, at least 1. Whichever of the
# two limits is reached first applies. Default 4194304 (4 MiB).
channel_capacity_bytes = 4194304

# How long a client that disconnected ungracefully stays stale, in seconds:
# during this time it may reconnect and resume its session. A number greater
# than 0 and at most 2147483.647; fractions are allowed (2.5 is 2.5 seconds).
stale_timeout_secs = 300

# How often to look for clients that have been stale for more than
# stale_timeout_secs, in seconds: a number greater than 0, fractions allowed.
# For perfect second accuracy use 1; for marginally lower CPU usage a higher
# number like 5 or 15.
stale_reap_interval_secs = 15

# Size of the missed packet buffer of a stale client, in packets: integer, 0 or
# more. 0 turns buffering off: then a packet from the master for a stale client
# ends that client's session at once. Above 0, packets from the master for a
# stale client are kept, up to this many, and resent in order if it reconnects
# within stale_timeout_secs; one more than that ends the session.
missed_packets_buffer_size = 0

# Byte budget of that buffer, per stale client: integer, 0 or more. Going over
# it ends the session like going over missed_packets_buffer_size.
# Default 1048576 (1 MiB).
missed_packets_buffer_bytes = 1048576

# Most stale clients kept at once: integer, 0 or more. Past it, the oldest
# stale client's session ends to make room. 0 means no client can ever resume.
max_stale_clients = 65535

[limits]
# Largest packet a client may send, in bytes: integer from 1 to 4294967295. A
# client announcing a bigger one is disconnected before any of it is buffered.
# The default keeps every packet, once tagged for the master (9 more bytes),
# within 8 MiB: backends built on the original helper refuse anything larger,
# so raise it only if your master accepts bigger frames.
max_frame_size = 8388599

# Time a new connection has to finish its handshake (or a reconnect its
# challenge), in seconds: a number greater than 0 and at most 2147483.647,
# fractions allowed. Connections that stall are closed.
handshake_timeout_secs = 10

# Most client connections open at once, live and still handshaking together:
# integer, at least 1. New connections past it are refused.
# Connections past the process's open-file limit (ulimit -n) less 64
# descriptors are refused too, logged and counted, rather than failing in
# accept(); the edge warns at start when max_connections is above that limit.
max_connections = 100000

# Most connections open at once from one IP address: integer, at least 1.
# Here and in every per-address limit below, an IPv4 address counts on its own
# (also when written IPv4-mapped, ::ffff:a.b.c.d) and an IPv6 address with its
# whole /64, the block one subscriber usually holds.
max_connections_per_address = 1024

# New connections each IP address may open per second, on average: a number
# greater than 0, fractions allowed (0.5 is one every two seconds).
new_connections_per_address_per_sec = 200

# Burst of new connections one IP address may open at once before the rate
# above applies: integer, at least 1.
new_connections_burst = 400

# Most handshakes in progress at once, over all clients: integer, at least 1.
# Caps the crypto work a flood of new connections can demand. At the cap, the
# handshake that has been idle longest (a quarter of a second at least) is
# dropped to make room for the new connection, so connections that open and
# say nothing cannot keep real clients out; only when every handshake is
# younger than that are new connections refused.
max_handshakes_in_flight = 4096

# A client frame that has started must keep arriving: it may take this many
# seconds, plus one more second for every min_frame_bytes_per_sec bytes of it
# received so far. A client that trickles slower than that is disconnected
# (its session goes stale and may resume), so a few bytes now and then cannot
# hold a connection and a frame's memory forever. A number greater than 0,
# fractions allowed.
frame_timeout_secs = 30

# The minimum rate of a frame in progress, in bytes per second: integer, at
# least 1 (see frame_timeout_secs).
min_frame_bytes_per_sec = 1024

# Failed reconnect attempts allowed per minute from one IP address: integer, at
# least 1. Past it, further attempts from that address are refused for a while.
# Failures count against the address that made them, never against the client
# id they named: knowing a client's id is not enough to lock it out. Several
# reconnects of one session may be challenged at once; the first valid answer
# wins.
failed_resumes_per_address_per_min = 60

# Most of the stale table (clients.max_stale_clients) one client address may
# hold: a share of it, from 0 to 1 exclusive (0.25 is a quarter), or a count,
# an integer of at least 1 (1 is one session, not the whole table). An IPv4
# address counts on its own, an IPv6 address with its whole /64. An address at
# its share that leaves one more session stale loses its own oldest stale
# session (Failure "evicted"), and when the table is full the address holding
# the most loses its oldest: a flood of throwaway sessions from a few
# addresses cannot push out the stale sessions of everyone else.
max_stale_share_per_address = 0.25

# Memory for everything buffered for clients, together, in bytes: the missed
# packet buffers of stale clients and the outgoing queues of clients that fall
# behind (each queued packet counted with its bookkeeping, about 160 bytes,
# not just its payload; a client counts once 64 KiB or more wait for it).
# "auto" (the default) is a quarter of the machine's memory (or of the
# container's limit, if lower), at least 64 MiB and at most 8 GiB; or an
# integer of at least 65536. Past it, the oldest missed packet buffers are
# dropped first (those sessions end, with a Failure, as when their own buffer
# overflows), then clients behind on their output are disconnected (they go
# stale and may resume). /metrics shows the bytes in use
# (voltlane_client_buffer_bytes) and what was dropped
# (voltlane_client_buffer_drops_total).
client_buffer_budget_bytes = "auto"

[http]
# Address of the built-in status server, as host:port, or "" to turn it off
# (the default). It serves /metrics (Prometheus), /healthz, /readyz and a live
# status page at /. Keep it on loopback, for example "127.0.0.1:9464", or
# behind your own access control: it shows session counts and recent events.
address = ""

[cluster]
# Redis (7 or later) or Valkey that joins edges into one cluster, as a URL
# such as "redis://127.0.0.1:6379" or "rediss://user:password@host:6380/0";
# "" turns clustering off (the default: one process holds its sessions alone).
# With it, every edge given the same URL, key file and key_prefix serves one
# set of sessions: ids are unique across the cluster, a session's record and
# its missed packets live in Redis, and a client may resume on any edge.
redis_url = ""

# Prefix of every Redis key this cluster uses: 1 to 64 of A-Z a-z 0-9 _ - . :
# Clusters sharing one Redis need different prefixes.
key_prefix = "voltlane"

# An edge that has not renewed its membership for this long, in seconds, is
# taken for dead: its sessions are adopted by the others, which end them
# (Failure) if their clients do not come back within stale_timeout_secs. A
# number greater than 0, at most 3600, fractions allowed.
member_timeout_secs = 5

[tls]
# Address of a second client listener that speaks the same protocol inside
# TLS, as host:port, or "" to turn it off (the default). The plain listener
# above stays on for clients built on the original library. Needs cert_file
# and key_file. TLS 1.2 is the minimum; ciphers are Node's defaults.
address = ""

# Certificate chain (PEM) presented to clients, the server's certificate
# first. Relative paths are read from the directory of this file. The files
# are read again on SIGHUP and when they change: new connections get the new
# certificate, open ones keep theirs.
cert_file = ""

# Private key (PEM) of that certificate, readable by Voltlane only.
key_file = ""

# CA certificates (PEM) that client certificates must chain to, or "" (the
# default) for no client certificates. When set, a client without a valid
# certificate is refused during the TLS handshake.
ca_file = ""

[websocket]
# Address of a WebSocket listener for browsers and clients behind HTTP
# proxies, as host:port, or "" to turn it off (the default). One protocol
# frame per binary WebSocket message, without the 4-byte length prefix.
# Text messages are refused (close code 1003), messages over
# limits.max_frame_size too (1009). Every limit in [limits] counts WebSocket
# connections together with the other listeners, per address.
address = ""

# The URL path that accepts the upgrade, such as "/" (the default) or
# "/voltlane". Other paths get HTTP 404.
path = "/"

# Serve wss:// (WebSocket inside TLS) with the certificate files of [tls]:
# true or false (the default).
tls = false

# Origins browsers may connect from, such as ["https://game.example.com"];
# [] (the default) allows any. An upgrade whose Origin header is not listed is
# refused with HTTP 403. Clients that send no Origin (not browsers) are let in.
allowed_origins = []

[state]
# Keep sessions across a restart and a crash: true (the default) or false.
# Voltlane keeps voltlane.state and voltlane.journal in state.dir, both
# private (mode 0600). On SIGTERM or SIGINT it closes the
# client connections and writes every session, with the packets buffered for
# stale clients; started again with the same key, it restores them all as
# stale (their stale clock runs from the shutdown: downtime counts against
# clients.stale_timeout_secs) and clients resume as after a network drop, with
# no Failure to the master. After a crash (kill -9) every session is restored
# too; only the packets buffered for stale clients since the last start or
# shutdown are lost. false: a shutdown ends every session, with one Failure
# each to the master before the firehose closes. Either way session ids are
# never reused, across restarts and crashes.
persist_sessions = true

# Directory of voltlane.state and voltlane.journal (and the session id
# counter, which is kept even with persist_sessions = false). "" (the
# default) is the directory of general.key_file; set it when the key lives
# somewhere read-only, such as a mounted secret. Relative paths are read from
# the directory of this file. Created (mode 0700) when missing.
dir = ""
`;
