/*
** repl.c: the interactive session of `eryx` on a terminal.  Lines are read
** with libedit (emacs keys, ~/.editrc, a history file) and handed to
** eryx_session_execute_interactive, which compiles them as Python's REPL
** does; ERYX_E_INCOMPLETE means "read another line" (prompt "... ").
**
** Ctrl-C.  While a line is edited, the terminal's ISIG is off and ^C is a
** key bound to discarding the input.  While a statement runs, SIGINT is
** taken by a watcher thread (sigwait: it is blocked everywhere else), which
** calls eryx_session_interrupt (KeyboardInterrupt in the code, the session
** kept); a second Ctrl-C during the same statement cancels it (the session
** is then reset), for code that catches KeyboardInterrupt or sits in one
** long C call.
*/
#include <errno.h>
#include <histedit.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define HISTORY_SIZE 1000

/* --------------------------------------------------------------- Ctrl-C */

static struct {
    pthread_mutex_t mu;
    eryx_session *running; /* whose statement runs, or NULL */
    int presses;           /* Ctrl-C presses during it */
} watch = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

void
repl_block_sigint(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *
watcher(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        pthread_mutex_lock(&watch.mu);
        if (watch.running != NULL) {
            if (watch.presses++ == 0)
                eryx_session_interrupt(watch.running);
            else
                eryx_session_cancel(watch.running);
        }
        pthread_mutex_unlock(&watch.mu);
    }
    return NULL;
}

static void
set_running(eryx_session *session)
{
    pthread_mutex_lock(&watch.mu);
    watch.running = session;
    watch.presses = 0;
    pthread_mutex_unlock(&watch.mu);
}

/* ------------------------------------------------------------- editing */

static char ps1[] = ">>> ", ps2[] = "... ";
static char *prompt = ps1;
static int input_discarded;

static char *
get_prompt(EditLine *el)
{
    (void)el;
    return prompt;
}

/* ^C while editing: end el_gets as at end of input, marked. */
static unsigned char
discard_input(EditLine *el, int ch)
{
    (void)el, (void)ch;
    input_discarded = 1;
    return CC_EOF;
}

/* The history file: $ERYX_HISTORY ("" for none), or ~/.eryx_history. */
static char *
history_path(void)
{
    const char *env = getenv("ERYX_HISTORY");
    if (env != NULL)
        return *env ? strdup(env) : NULL;
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return NULL;
    size_t n = strlen(home) + sizeof "/.eryx_history";
    char *path = malloc(n);
    if (path != NULL)
        snprintf(path, n, "%s/.eryx_history", home);
    return path;
}

/* ------------------------------------------------------------- running */

/* The statement's outcome, as Python's REPL shows it: output has already
   streamed; a traceback goes to stderr; a stop says what it cost. */
static void
report(eryx_status s, eryx_result *r, const eryx_error *err)
{
    size_t n = 0;
    const char *text = r ? eryx_result_error(r, &n) : NULL;
    if (s == ERYX_OK)
        return;
    if (r == NULL) {
        fprintf(stderr, "eryx: %s\n", err->message);
    } else if (s == ERYX_E_PYTHON || s == ERYX_E_MEMORY_LIMIT) {
        fwrite(text, 1, n, stderr);
    } else {
        fprintf(stderr, "eryx: %.*s\n", (int)n, text ? text : "");
        if (s != ERYX_E_OUTPUT_LIMIT && s != ERYX_E_NOMEM)
            fputs("eryx: the session was reset: its variables are gone\n",
                  stderr);
    }
}

/* Is `s` (len bytes) only blanks? */
static int
blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

int
repl_run(eryx_session *session)
{
    pthread_t t;
    if (pthread_create(&t, NULL, watcher, NULL) != 0) {
        fputs("eryx: cannot start the Ctrl-C watcher\n", stderr);
        return 1;
    }
    pthread_detach(t);

    EditLine *el = el_init("eryx", stdin, stdout, stderr);
    History *hist = history_init();
    if (el == NULL || hist == NULL) {
        fputs("eryx: cannot set up line editing\n", stderr);
        if (el != NULL)
            el_end(el);
        if (hist != NULL)
            history_end(hist);
        return 1;
    }
    HistEvent ev;
    char *hpath = history_path();
    history(hist, &ev, H_SETSIZE, HISTORY_SIZE);
    history(hist, &ev, H_SETUNIQUE, 1);
    if (hpath != NULL)
        history(hist, &ev, H_LOAD, hpath); /* a missing file is fine */
    el_set(el, EL_HIST, history, hist);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_PROMPT, get_prompt);
    el_set(el, EL_ADDFN, "eryx-discard", "discard the input", discard_input);
    el_set(el, EL_BIND, "^C", "eryx-discard", NULL);
    el_set(el, EL_SETTY, "-d", "-isig", NULL); /* ^C is a key here */
    el_source(el, NULL);                       /* ~/.editrc */

    fprintf(stderr,
            "eryx %s (CPython %s), Python in a WebAssembly sandbox.\n"
            "Ctrl-D leaves; Ctrl-C interrupts.\n",
            eryx_version(), eryx_python_version());

    char *buf = NULL;
    size_t len = 0, cap = 0;
    int pending = 0, status = 0;
    for (;;) {
        prompt = pending ? ps2 : ps1;
        input_discarded = 0;
        int n = 0;
        const char *line = el_gets(el, &n);
        if (input_discarded) {
            fputs("\nKeyboardInterrupt\n", stderr);
            pending = 0;
            len = 0;
            continue;
        }
        if (line == NULL || n <= 0) { /* Ctrl-D */
            fputc('\n', stdout);
            break;
        }
        size_t l = (size_t)n;
        if (!blank(line, l))
            history(hist, &ev, H_ENTER, line);
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            l--;
        if (!pending && blank(line, l))
            continue;
        if (len + l + 2 > cap) {
            size_t ncap = (len + l + 2) * 2;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                fputs("eryx: out of memory\n", stderr);
                status = 1;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        if (pending)
            buf[len++] = '\n';
        memcpy(buf + len, line, l);
        len += l;
        pending = 1;

        eryx_result *r = NULL;
        eryx_error err = {ERYX_OK, ""};
        set_running(session);
        eryx_status s =
            eryx_session_execute_interactive(session, buf, len, &r, &err);
        set_running(NULL);
        if (s != ERYX_E_INCOMPLETE) {
            report(s, r, &err);
            pending = 0;
            len = 0;
        }
        eryx_result_free(r);
        fflush(stdout);
    }
    if (hpath != NULL) {
        history(hist, &ev, H_SAVE, hpath);
        chmod(hpath, 0600); /* what was typed may hold secrets */
    }
    free(hpath);
    free(buf);
    history_end(hist);
    el_end(el);
    return status;
}
