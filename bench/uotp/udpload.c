/* UDP load generator and echo for bench/uotp.sh.
 *   udpload echo PORT                         echo every datagram back to its sender (127.0.0.1:PORT)
 *   udpload load PORT SIZE RATE SECONDS [SRC]  send SIZE-byte datagrams at RATE/s to 127.0.0.1:PORT for SECONDS
 *                                             (from 127.0.0.1:SRC when given: every run one session of the tunnel),
 *                                             read the echoes, print: sent received loss% dgram/s Mbit/s p50_us p99_us
 * Each datagram carries its sequence number, send time and the run's id; the RTT is taken per echo. Loss counts what
 * never came back, and what came back later than 1 s (UDPLOAD_MAX_RTT_MS): a tunnel that queues without bound would
 * otherwise pass any rate by delivering it late. Echoes of an earlier run (queued somewhere, arriving now) carry
 * another id and are ignored. One socket, a sender thread paced in 0.2 ms slices, the main thread receiving. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd, size;
static double rate, seconds;
static volatile uint64_t sent;
static volatile int done;
static uint64_t run_id;
#define BATCH 64

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }

static void *sender(void *arg) {
    (void)arg;
    char *bufs = calloc(BATCH, size);
    static struct mmsghdr out[BATCH];
    static struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs + i * size; iov[i].iov_len = size;
        out[i].msg_hdr.msg_iov = &iov[i]; out[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) break;
        uint64_t due = (uint64_t)((t - start) / 1e9 * rate);
        while (sent < due) {
            /* Up to BATCH datagrams per sendmmsg: the generator must not be what limits the rate it measures. */
            unsigned n = due - sent < BATCH ? (unsigned)(due - sent) : BATCH;
            uint64_t ts = now_ns();
            for (unsigned i = 0; i < n; i++) {
                uint64_t seq = sent + i;
                memcpy(bufs + i * size, &seq, 8); memcpy(bufs + i * size + 8, &ts, 8); memcpy(bufs + i * size + 16, &run_id, 8);
            }
            int done_now = sendmmsg(fd, out, n, 0);
            /* ENOBUFS etc.: what was not taken counts as loss. */
            sent += n;
            (void)done_now;
        }
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    done = 1;
    return NULL;
}

static int cmp(const void *a, const void *b) { uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: udpload echo PORT | load PORT SIZE RATE SECONDS\n"); return 2; }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 16 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (!strcmp(argv[1], "echo")) {
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
        /* Echoes up to BATCH datagrams per recvmmsg/sendmmsg pair, each to its own sender. */
        static char ebuf[BATCH][65536];
        static struct sockaddr_storage from[BATCH];
        static struct mmsghdr msgs[BATCH];
        static struct iovec eiov[BATCH];
        for (;;) {
            for (int i = 0; i < BATCH; i++) {
                eiov[i].iov_base = ebuf[i]; eiov[i].iov_len = sizeof ebuf[i];
                msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &eiov[i], .msg_iovlen = 1};
            }
            int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
            if (n <= 0) continue;
            for (int i = 0; i < n; i++) eiov[i].iov_len = msgs[i].msg_len;
            for (int at = 0; at < n;) { int k = sendmmsg(fd, msgs + at, n - at, 0); if (k <= 0) break; at += k; }
        }
    }
    if (argc < 6) { fprintf(stderr, "usage: udpload load PORT SIZE RATE SECONDS\n"); return 2; }
    size = atoi(argv[3]); rate = atof(argv[4]); seconds = atof(argv[5]);
    if (size < 24) size = 24;
    run_id = now_ns() ^ ((uint64_t)getpid() << 40);
    const char *max_rtt_env = getenv("UDPLOAD_MAX_RTT_MS");
    uint64_t max_rtt_us = (max_rtt_env ? strtoull(max_rtt_env, NULL, 10) : 1000) * 1000;
    uint64_t late = 0;
    if (argc > 6) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[6])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 1; }
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
    size_t cap = (size_t)(rate * seconds) + 16;
    uint32_t *rtt = malloc(cap * sizeof *rtt);
    unsigned char *seen = calloc(cap, 1);
    uint64_t received = 0;
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_t t; pthread_create(&t, NULL, sender, NULL);
    uint64_t quiet_since = 0;
    static char rbuf[BATCH][65536];
    static struct mmsghdr in[BATCH];
    static struct iovec riov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        riov[i].iov_base = rbuf[i]; riov[i].iov_len = sizeof rbuf[i];
        in[i].msg_hdr.msg_iov = &riov[i]; in[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int got = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
        uint64_t t_now = now_ns();
        for (int i = 0; i < got; i++) {
            if (in[i].msg_len < 24) continue;
            char *b = rbuf[i];
            uint64_t seq, ts, id; memcpy(&seq, b, 8); memcpy(&ts, b + 8, 8); memcpy(&id, b + 16, 8);
            if (id == run_id && seq < cap && !seen[seq]) {
                seen[seq] = 1;
                uint64_t us = (t_now - ts) / 1000;
                if (us <= max_rtt_us) rtt[received++] = (uint32_t)us; else late++;
            }
        }
        if (got > 0) {
            quiet_since = 0;
        } else if (done) {
            if (!quiet_since) quiet_since = t_now;
            if (received + late >= sent || t_now - quiet_since > 1000000000ull) break;
        }
    }
    pthread_join(t, NULL);
    qsort(rtt, received, sizeof *rtt, cmp);
    double loss = sent ? 100.0 * (double)(sent - received) / (double)sent : 0;
    uint32_t p50 = received ? rtt[received / 2] : 0, p99 = received ? rtt[(size_t)(received * 0.99)] : 0;
    printf("%llu %llu %.3f %.0f %.2f %u %u\n", (unsigned long long)sent, (unsigned long long)received, loss,
           received / seconds, received * (double)size * 8 / seconds / 1e6, p50, p99);
    return 0;
}
