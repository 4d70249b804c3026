/* UDP load generator and echo for bench/uotp.sh.
 *   udpload echo PORT                         echo every datagram back to its sender (127.0.0.1:PORT)
 *   udpload load PORT SIZE RATE SECONDS [SRC]  send SIZE-byte datagrams at RATE/s to 127.0.0.1:PORT for SECONDS
 *                                             (from 127.0.0.1:SRC when given: every run one session of the tunnel),
 *                                             read the echoes, print: sent received loss% dgram/s Mbit/s p50_us p99_us
 * Each datagram carries its sequence number and send time; the RTT is taken per echo, loss counts what never came
 * back within 1 s of the end. One socket, a sender thread paced in 1 ms slices, the main thread receiving. */
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

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }

static void *sender(void *arg) {
    (void)arg;
    char *buf = calloc(1, size < 16 ? 16 : size);
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end) break;
        uint64_t due = (uint64_t)((t - start) / 1e9 * rate);
        while (sent < due) {
            uint64_t seq = sent, ts = now_ns();
            memcpy(buf, &seq, 8); memcpy(buf + 8, &ts, 8);
            if (send(fd, buf, size, 0) < 0) { /* ENOBUFS etc.: counts as loss */ }
            sent++;
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
    static char buf[65536];
    if (!strcmp(argv[1], "echo")) {
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
        for (;;) {
            struct sockaddr_storage from; socklen_t len = sizeof from;
            ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
            if (n >= 0) sendto(fd, buf, n, 0, (struct sockaddr *)&from, len);
        }
    }
    if (argc < 6) { fprintf(stderr, "usage: udpload load PORT SIZE RATE SECONDS\n"); return 2; }
    size = atoi(argv[3]); rate = atof(argv[4]); seconds = atof(argv[5]);
    if (size < 16) size = 16;
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
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        uint64_t t_now = now_ns();
        if (n >= 16) {
            uint64_t seq, ts; memcpy(&seq, buf, 8); memcpy(&ts, buf + 8, 8);
            if (seq < cap && !seen[seq]) { seen[seq] = 1; rtt[received++] = (uint32_t)((t_now - ts) / 1000); }
            quiet_since = 0;
        } else if (done) {
            if (!quiet_since) quiet_since = t_now;
            if (received >= sent || t_now - quiet_since > 1000000000ull) break;
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
