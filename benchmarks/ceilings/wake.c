// Floor costs on this guest for issue 14 (b): one bare system call, one thread wake-up (futex,
// eventfd+epoll, as Netty's loop is woken) same-CPU and cross-CPU, the same with the waiter
// spinning first (what zerohop's opt-in latency mode does), and a plain TCP connect + graceful
// close over loopback in C (the least any open + close can cost in system calls).
// Prints wall and CPU (both threads, CLOCK_PROCESS_CPUTIME_ID) per operation, and context switches.
// Build: gcc -O2 -pthread -o wake wake.c   Run: ./wake [iterations]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long N = 20000;

static long now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000L + t.tv_nsec; }
// The scheduler's exact run time of all threads (getrusage's utime/stime are tick samples).
static long cpu_ns(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1000000000L + t.tv_nsec; }
static long csw(void) { struct rusage r; getrusage(RUSAGE_SELF, &r); return r.ru_nvcsw + r.ru_nivcsw; }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); pthread_setaffinity_np(pthread_self(), sizeof s, &s); }

static void report(const char *what, long n, long w0, long c0, long s0, const char *unit) {
    long w = now_ns() - w0, c = cpu_ns() - c0, s = csw() - s0;
    printf("%-58s wall %8.2f us  CPU %8.2f us  ctx-switches %5.2f  per %s\n", what, w / 1e3 / n, c / 1e3 / n, (double) s / n, unit);
}

/* ---- futex ping-pong ---- */
static _Atomic int turn; // 0: ping's turn, 1: pong's
static int spin_us;
static void fwait(int want) {
    if (spin_us) {
        long end = now_ns() + spin_us * 1000L;
        while (atomic_load(&turn) != want && now_ns() < end) { __builtin_ia32_pause(); }
    }
    while (atomic_load(&turn) != want) { syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, !want, NULL, NULL, 0); }
}
// Wall time spent inside FUTEX_WAKE by the pinging thread: the waker's share of a hand-off.
static long wake_ns, wake_calls;
static void fpass(int to) { atomic_store(&turn, to); syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }
static void fpass_timed(int to) {
    atomic_store(&turn, to);
    long t = now_ns();
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    wake_ns += now_ns() - t; wake_calls++;
}
static int pong_cpu;
static void *fpong(void *a) { (void) a; pin(pong_cpu); for (long i = 0; i < N; i++) { fwait(1); fpass(0); } return NULL; }
static void futex_pp(int cpu_a, int cpu_b, int spin, const char *what) {
    pthread_t t; turn = 0; pong_cpu = cpu_b; spin_us = spin; pin(cpu_a);
    pthread_create(&t, NULL, fpong, NULL);
    usleep(10000);
    long w0 = now_ns(), c0 = cpu_ns(), s0 = csw();
    wake_ns = wake_calls = 0;
    for (long i = 0; i < N; i++) { fpass_timed(1); fwait(0); }
    pthread_join(t, NULL);
    report(what, 2 * N, w0, c0, s0, "one-way hand-off");
    printf("    of which inside FUTEX_WAKE (the waker's system call, wall): %.2f us per call\n", wake_ns / 1e3 / wake_calls);
}

/* ---- eventfd + epoll_wait ping-pong (how a Netty epoll loop is woken by another thread) ---- */
static int efd[2], ep[2];
static void ewait(int i) {
    struct epoll_event ev; uint64_t v;
    if (spin_us) { // latency mode: poll without blocking first
        long end = now_ns() + spin_us * 1000L;
        while (now_ns() < end) { if (epoll_wait(ep[i], &ev, 1, 0) == 1) { read(efd[i], &v, 8); return; } }
    }
    while (epoll_wait(ep[i], &ev, 1, -1) != 1) { }
    read(efd[i], &v, 8);
}
static void *epong(void *a) { (void) a; pin(pong_cpu); uint64_t one = 1; for (long i = 0; i < N; i++) { ewait(1); write(efd[0], &one, 8); } return NULL; }
static void eventfd_pp(int cpu_a, int cpu_b, int spin, const char *what) {
    for (int i = 0; i < 2; i++) {
        efd[i] = eventfd(0, EFD_NONBLOCK); ep[i] = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd[i]}; epoll_ctl(ep[i], EPOLL_CTL_ADD, efd[i], &ev);
    }
    pthread_t t; pong_cpu = cpu_b; spin_us = spin; pin(cpu_a);
    pthread_create(&t, NULL, epong, NULL);
    usleep(10000);
    uint64_t one = 1;
    long w0 = now_ns(), c0 = cpu_ns(), s0 = csw();
    for (long i = 0; i < N; i++) { write(efd[1], &one, 8); ewait(0); }
    pthread_join(t, NULL);
    report(what, 2 * N, w0, c0, s0, "one-way hand-off");
    for (int i = 0; i < 2; i++) { close(efd[i]); close(ep[i]); }
}

/* ---- TCP connect + graceful close, client and server threads ---- */
static int lfd; static struct sockaddr_in addr;
static void *server(void *a) {
    (void) a; pin(pong_cpu); char b[16];
    for (long i = 0; i < N; i++) {
        int c = accept(lfd, NULL, NULL);
        while (read(c, b, sizeof b) > 0) { }  // until the client's FIN
        close(c);
    }
    return NULL;
}
static void tcp_open_close(int cpu_a, int cpu_b, const char *what) {
    lfd = socket(AF_INET, SOCK_STREAM, 0); int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    addr.sin_family = AF_INET; addr.sin_addr.s_addr = htonl(0x7f000001); addr.sin_port = 0;
    bind(lfd, (struct sockaddr *) &addr, sizeof addr); socklen_t l = sizeof addr; getsockname(lfd, (struct sockaddr *) &addr, &l);
    listen(lfd, 128);
    pthread_t t; pong_cpu = cpu_b; pin(cpu_a);
    pthread_create(&t, NULL, server, NULL);
    char b[16];
    long w0 = now_ns(), c0 = cpu_ns(), s0 = csw();
    for (long i = 0; i < N; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(s, (struct sockaddr *) &addr, sizeof addr) != 0) { perror("connect"); exit(1); }
        shutdown(s, SHUT_WR);
        while (read(s, b, sizeof b) > 0) { }  // the server's FIN
        close(s);
    }
    pthread_join(t, NULL);
    report(what, N, w0, c0, s0, "connect + close");
    close(lfd);
}

/* ---- TCP round trip of a small message (64 B) over loopback: each side epoll_wait + recv + send,
   as an event loop does; the least two round trips of a tunnel open + close can cost in the kernel ---- */
static int rtt_fd[2];
static void rtt_side(int fd, int first) {
    int ep = epoll_create1(0); struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    char b[64] = {0};
    if (first) send(fd, b, sizeof b, 0);
    for (long i = 0; i < N; i++) {
        while (epoll_wait(ep, &out, 1, -1) != 1) { }
        if (recv(fd, b, sizeof b, 0) <= 0) { perror("recv"); exit(1); }
        if (!first || i + 1 < N) send(fd, b, sizeof b, 0);
    }
    close(ep);
}
static void *rtt_pong(void *a) { (void) a; pin(pong_cpu); rtt_side(rtt_fd[1], 0); return NULL; }
static void tcp_rtt(int cpu_a, int cpu_b, const char *what) {
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1; struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(l, (struct sockaddr *) &a, sizeof a); socklen_t al = sizeof a; getsockname(l, (struct sockaddr *) &a, &al); listen(l, 1);
    rtt_fd[0] = socket(AF_INET, SOCK_STREAM, 0); connect(rtt_fd[0], (struct sockaddr *) &a, sizeof a); rtt_fd[1] = accept(l, NULL, NULL);
    for (int i = 0; i < 2; i++) setsockopt(rtt_fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t; pong_cpu = cpu_b; pin(cpu_a);
    pthread_create(&t, NULL, rtt_pong, NULL);
    usleep(10000);
    long w0 = now_ns(), c0 = cpu_ns(), s0 = csw();
    rtt_side(rtt_fd[0], 1);
    pthread_join(t, NULL);
    report(what, N, w0, c0, s0, "round trip");
    close(rtt_fd[0]); close(rtt_fd[1]); close(l);
}

int main(int argc, char **argv) {
    if (argc > 1) N = atol(argv[1]);
    const char *only = argc > 2 ? argv[2] : "all";
    if (!strcmp(only, "all") || !strcmp(only, "syscall")) {
        pin(0); long n = N * 50;
        long w0 = now_ns(), c0 = cpu_ns(), s0 = csw();
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
        report("bare system call (getppid)", n, w0, c0, s0, "call");
        w0 = now_ns(); c0 = cpu_ns(); s0 = csw(); uint64_t v = 1; int e = eventfd(0, EFD_NONBLOCK);
        for (long i = 0; i < n; i++) { write(e, &v, 8); read(e, &v, 8); }
        report("eventfd write + read, no waiter (2 calls)", n, w0, c0, s0, "pair");
        close(e);
    }
    if (!strcmp(only, "all") || !strcmp(only, "futex")) {
        futex_pp(0, 0, 0, "futex hand-off, same CPU");
        futex_pp(0, 1, 0, "futex hand-off, cross CPU");
        futex_pp(0, 1, 100, "futex hand-off, cross CPU, waiter spins 100 us");
    }
    if (!strcmp(only, "all") || !strcmp(only, "eventfd")) {
        eventfd_pp(0, 0, 0, "eventfd+epoll hand-off, same CPU");
        eventfd_pp(0, 1, 0, "eventfd+epoll hand-off, cross CPU");
        eventfd_pp(0, 1, 100, "eventfd+epoll hand-off, cross CPU, polls 100 us");
    }
    if (!strcmp(only, "all") || !strcmp(only, "rtt")) {
        tcp_rtt(0, 0, "TCP 64 B round trip, epoll+recv+send, same CPU");
        tcp_rtt(0, 1, "TCP 64 B round trip, epoll+recv+send, cross CPU");
    }
    if (!strcmp(only, "all") || !strcmp(only, "tcp")) {
        tcp_open_close(0, 0, "TCP connect + FIN/FIN close, C, same CPU");
        tcp_open_close(0, 1, "TCP connect + FIN/FIN close, C, cross CPU");
    }
    return 0;
}
