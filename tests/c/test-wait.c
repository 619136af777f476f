/* test-wait.c - brain_wait on a name and on a namespace. */
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

/* A helper process that opens the store, sleeps ms, then runs op. */
enum { OP_PUT, OP_DELETE, OP_PUT_OTHER_NS };

static pid_t later(int store, int ms, int op, const char *ns, const char *name)
{
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(store);
        t_sleep_ms(ms);
        if (op == OP_PUT)
            ASSERT_OK(brain_put(c, ns, name, "new", 3, NULL, NULL));
        else if (op == OP_DELETE)
            ASSERT_OK(brain_delete(c, ns, name));
        else
            ASSERT_OK(brain_put(c, "elsewhere", name, "x", 1, NULL, NULL));
        ASSERT_OK(brain_close(c));
        t_child_exit(0);
    }
    return pid;
}

TEST(wait_wakes_on_put_from_other_process)
{
    brain *b = t_create(0, 0);
    uint64_t v = 12345;
    /* absent name: version 0 */
    ASSERT_ERR(brain_wait(b, NULL, "w", 0, 0, &v), BRAIN_ETIMEDOUT);
    pid_t pid = later(0, 100, OP_PUT, NULL, "w");
    int64_t t0 = t_now_ms();
    ASSERT_OK(brain_wait(b, NULL, "w", 0, 5000, &v));
    int64_t el = t_now_ms() - t0;
    ASSERT_GE(el, 80);
    ASSERT_LT(el, 2000);
    brain_info m;
    ASSERT_OK(brain_meta(b, NULL, "w", &m, NULL, 0));
    ASSERT_EQ_U64(v, m.version);
    ASSERT_GT_U64(v, 0);
    t_wait_ok(pid);

    /* a delete wakes too, with version 0 */
    uint64_t cur = v;
    pid = later(0, 100, OP_DELETE, NULL, "w");
    t0 = t_now_ms();
    v = 999;
    ASSERT_OK(brain_wait(b, NULL, "w", cur, 5000, &v));
    ASSERT_GE(t_now_ms() - t0, 80);
    ASSERT_EQ_U64(v, 0);
    t_wait_ok(pid);
    t_destroy(b, 0);
}

TEST(wait_returns_at_once_when_already_changed)
{
    brain *b = t_create(0, 0);
    uint64_t v1 = 0, v2 = 0, got = 0;
    ASSERT_OK(brain_put(b, "n", "k", "1", 1, NULL, &v1));
    ASSERT_OK(brain_put(b, "n", "k", "2", 1, NULL, &v2));
    int64_t t0 = t_now_ms();
    ASSERT_OK(brain_wait(b, "n", "k", v1, 5000, &got));
    ASSERT_EQ_U64(got, v2);
    ASSERT_OK(brain_wait(b, "n", "k", 0, -1, &got)); /* forever, but changed */
    ASSERT_EQ_U64(got, v2);
    ASSERT_OK(brain_wait(b, "n", "k", v1, 0, NULL)); /* check once */
    ASSERT_LT(t_now_ms() - t0, 500);
    got = 77;
    ASSERT_ERR(brain_wait(b, "n", "k", v2, 0, &got), BRAIN_ETIMEDOUT);
    /* namespace: version of its last change */
    ASSERT_OK(brain_wait(b, "n", NULL, v1, 1000, &got));
    ASSERT_EQ_U64(got, v2);
    ASSERT_ERR(brain_wait(NULL, "n", "k", v1, 0, NULL), BRAIN_EINVAL);
    t_destroy(b, 0);
}

TEST(wait_timeout)
{
    brain *b = t_create(0, 0);
    uint64_t v = 0;
    ASSERT_OK(brain_put(b, NULL, "still", "s", 1, NULL, &v));
    int64_t t0 = t_now_ms();
    ASSERT_ERR(brain_wait(b, NULL, "still", v, 200, NULL), BRAIN_ETIMEDOUT);
    int64_t el = t_now_ms() - t0;
    ASSERT_GE(el, 190);
    ASSERT_LT(el, 1000);
    /* absent name waited on with after_version 0 */
    t0 = t_now_ms();
    uint64_t got = 99;
    ASSERT_ERR(brain_wait(b, NULL, "absent", 0, 150, &got), BRAIN_ETIMEDOUT);
    el = t_now_ms() - t0;
    ASSERT_GE(el, 140);
    ASSERT_LT(el, 1000);
    /* namespace with no change */
    uint64_t nsv = 0;
    ASSERT_OK(brain_wait(b, NULL, NULL, 0, 0, &nsv));
    ASSERT_EQ_U64(nsv, v);
    t0 = t_now_ms();
    ASSERT_ERR(brain_wait(b, NULL, NULL, nsv, 150, NULL), BRAIN_ETIMEDOUT);
    ASSERT_GE(t_now_ms() - t0, 140);
    t_destroy(b, 0);
}

TEST(wait_namespace)
{
    brain *b = t_create(0, 0);
    uint64_t v0 = 0, got = 0;
    ASSERT_OK(brain_put(b, "watched", "a", "a", 1, NULL, &v0));
    /* a change in another namespace does not wake the waiter */
    pid_t pid = later(0, 50, OP_PUT_OTHER_NS, NULL, "b");
    int64_t t0 = t_now_ms();
    ASSERT_ERR(brain_wait(b, "watched", NULL, v0, 300, &got),
               BRAIN_ETIMEDOUT);
    ASSERT_GE(t_now_ms() - t0, 290);
    t_wait_ok(pid);
    ASSERT_EQ_INT(brain_exists(b, "elsewhere", "b"), 1);
    /* a new name in the namespace does */
    pid = later(0, 100, OP_PUT, "watched", "new-name");
    t0 = t_now_ms();
    ASSERT_OK(brain_wait(b, "watched", NULL, v0, 5000, &got));
    ASSERT_GE(t_now_ms() - t0, 80);
    brain_info m;
    ASSERT_OK(brain_meta(b, "watched", "new-name", &m, NULL, 0));
    ASSERT_EQ_U64(got, m.version);
    t_wait_ok(pid);
    t_destroy(b, 0);
}

struct waiter {
    brain *b;
    uint64_t after;
    int rc;
    uint64_t got;
    int64_t elapsed;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    int64_t t0 = t_now_ms();
    w->rc = brain_wait(w->b, NULL, "t", w->after, 5000, &w->got);
    w->elapsed = t_now_ms() - t0;
    return NULL;
}

TEST(wait_many_threads_woken_by_one_put)
{
    brain *b = t_create(0, 0);
    uint64_t v0 = 0, v1 = 0;
    ASSERT_OK(brain_put(b, NULL, "t", "0", 1, NULL, &v0));
    enum { N = 6 };
    struct waiter w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct waiter){b, v0, -1, 0, 0};
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, wait_thread, &w[i]), 0);
    }
    t_sleep_ms(100);
    ASSERT_OK(brain_put(b, NULL, "t", "1", 1, NULL, &v1));
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ASSERT_OK(w[i].rc);
        ASSERT_EQ_U64(w[i].got, v1);
        ASSERT_LT(w[i].elapsed, 2000);
    }
    t_destroy(b, 0);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

TEST(wait_not_ended_by_signal)
{
    brain *b = t_create(0, 0);
    uint64_t v = 0;
    ASSERT_OK(brain_put(b, NULL, "s", "s", 1, NULL, &v));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 30000}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int64_t t0 = t_now_ms();
    ASSERT_ERR(brain_wait(b, NULL, "s", v, 300, NULL), BRAIN_ETIMEDOUT);
    int64_t el = t_now_ms() - t0;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    ASSERT_GE(alarms, 3);
    ASSERT_GE(el, 290);
    ASSERT_LT(el, 1500);
    t_destroy(b, 0);
}

TEST(wait_wakes_on_expiry)
{
    brain *b = t_create(0, 0);
    brain_put_opts o = {.ttl_ms = 150};
    uint64_t v = 0, got = 99;
    ASSERT_OK(brain_put(b, NULL, "ttl", "t", 1, &o, &v));
    int64_t t0 = t_now_ms();
    ASSERT_OK(brain_wait(b, NULL, "ttl", v, 3000, &got));
    int64_t el = t_now_ms() - t0;
    ASSERT_GE(el, 140);
    ASSERT_LT(el, 1500);
    ASSERT_EQ_U64(got, 0);
    ASSERT_EQ_INT(brain_exists(b, NULL, "ttl"), 0);
    t_destroy(b, 0);
}

TEST(wait_forever_woken_by_other_process)
{
    brain *b = t_create(0, 0);
    uint64_t got = 0;
    pid_t pid = later(0, 100, OP_PUT, "f", "forever");
    int64_t t0 = t_now_ms();
    ASSERT_OK(brain_wait(b, "f", "forever", 0, -1, &got));
    ASSERT_GE(t_now_ms() - t0, 80);
    ASSERT_GT_U64(got, 0);
    t_wait_ok(pid);
    t_destroy(b, 0);
}

TEST(wait_ignores_changes_to_other_names)
{
    /* Puts of many other names (some share the waiter's wake-up bucket)
     * do not end a wait whose name did not change. */
    brain *b = t_create(0, 0);
    uint64_t v = 0;
    ASSERT_OK(brain_put(b, "same", "watched", "w", 1, NULL, &v));
    pid_t pid = t_fork();
    if (pid == 0) {
        brain *c = t_open(0);
        int64_t end = t_now_ms() + 300;
        for (int i = 0; t_now_ms() < end; i++) {
            char name[32];
            snprintf(name, sizeof name, "other-%d", i % 1000);
            ASSERT_OK(brain_put(c, "same", name, &i, sizeof i, NULL, NULL));
            if (i % 50 == 0)
                t_sleep_ms(1);
        }
        ASSERT_OK(brain_close(c));
        t_child_exit(0);
    }
    int64_t t0 = t_now_ms();
    uint64_t got = 0;
    ASSERT_ERR(brain_wait(b, "same", "watched", v, 250, &got),
               BRAIN_ETIMEDOUT);
    ASSERT_GE(t_now_ms() - t0, 240);
    t_wait_ok(pid);
    /* while the namespace as a whole did change */
    ASSERT_OK(brain_wait(b, "same", NULL, v, 0, &got));
    ASSERT_GT_U64(got, v);
    t_destroy(b, 0);
}
