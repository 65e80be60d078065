/*
 * lwstp-server - the root process
 *
 * As lwsws (4.1.6 lwsws/main.c), the first process stays up for good (as
 * systemd likes it) and forks the server, so that a reload can start a new
 * server while the old one finishes its connections.  The root process
 * creates no lws context and no thread: forking from it is safe.
 *
 *   start	the config is checked in a child of its own (--check's
 *		check, the protocols' verdict on their options included);
 *		if it passes, the server is forked
 *   SIGHUP	the re-read config is checked the same way; a config the
 *		server would refuse leaves the running server alone.
 *		Otherwise the server gets SIGHUP, drops its listen sockets
 *		and says so on a pipe (lwsws sleeps a second instead), and
 *		the new server is forked; the old one exits once its last
 *		connection closed
 *   SIGINT, SIGTERM
 *		passed to every server as SIGTERM; each ends its tasks
 *		(their cleanups run) and exits; then the root exits, 0 if
 *		every server did
 *   the server exiting by itself (a failed start, say): the others get
 *		SIGTERM, and the root exits with its code
 *
 * The signals are blocked and read from a signalfd, so the loop below is
 * their only handler; the children get the original mask back.
 */

#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SERVERS	32	/* the current one and those draining */

struct sup {
	const struct lwstp_server_opts	*o;
	sigset_t			old_mask;
	int				sfd;
	pid_t				servers[MAX_SERVERS]; /* [0]: current */
	int				notify_fd;	/* of [0], or -1 */
	int				reloading;	/* [0] got SIGHUP */
	int				stopping;
	int				code;		/* to exit with */
};

static void
child_setup(struct sup *s)
{
	sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
	close(s->sfd);
	if (s->notify_fd >= 0)
		close(s->notify_fd);
}

/* 0: the config in o->dir is one the server starts on */
static int
check(struct sup *s)
{
	pid_t pid = fork(), w;
	int st;

	if (pid < 0) {
		lwsl_err("lwstp-server: fork: %s\n", strerror(errno));
		return -1;
	}
	if (!pid) {
		child_setup(s);
		_exit(lwstp_server_check(s->o, 1));
	}
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);

	return w == pid && WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -1;
}

static int
spawn(struct sup *s)
{
	int p[2], n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
		lwsl_err("lwstp-server: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		lwsl_err("lwstp-server: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (!pid) {
		child_setup(s);
		close(p[0]);
		_exit(lwstp_server_serve(s->o, p[1]));
	}
	close(p[1]);

	/* the one before, if any, is draining: it moves along */
	for (n = MAX_SERVERS - 1; n > 0; n--)
		s->servers[n] = s->servers[n - 1];
	s->servers[0] = pid;
	s->notify_fd = p[0];
	s->reloading = 0;

	return 0;
}

static void
signal_all(struct sup *s, int sig)
{
	int n;

	for (n = 0; n < MAX_SERVERS; n++)
		if (s->servers[n] > 0)
			kill(s->servers[n], sig);
}

static int
count_servers(const struct sup *s)
{
	int n, c = 0;

	for (n = 0; n < MAX_SERVERS; n++)
		c += s->servers[n] > 0;

	return c;
}

static void
reaped(struct sup *s, pid_t pid, int st)
{
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), n;

	for (n = 0; n < MAX_SERVERS && s->servers[n] != pid; n++)
		;
	if (n == MAX_SERVERS)
		return;		/* a check child: waited for in check() */
	s->servers[n] = 0;
	if (code && !s->code)
		s->code = code;

	if (!n && s->reloading && !s->stopping) {
		/* gone before (or after) saying its sockets are closed */
		lwsl_notice("lwstp-server: reload: the old server (pid %d) "
			    "ended, exit %d\n", (int)pid, code);
		close(s->notify_fd);
		s->notify_fd = -1;
		if (!spawn(s))
			return;
		s->code = 1;
		s->stopping = 1;
		signal_all(s, SIGTERM);
		return;
	}
	if (n && !s->stopping) {
		lwsl_notice("lwstp-server: reload: the old server (pid %d) "
			    "finished its connections, exit %d\n", (int)pid,
			    code);
		return;
	}
	if (!n && !s->stopping) {
		/* the current server ended by itself */
		lwsl_err("lwstp-server: the server (pid %d) exited (%d)\n",
			 (int)pid, code);
		if (!s->code)
			s->code = 1;
		s->stopping = 1;
		signal_all(s, SIGTERM);
	}
	if (!n && s->notify_fd >= 0) {
		close(s->notify_fd);
		s->notify_fd = -1;
	}
}

static void
on_signal(struct sup *s, int sig)
{
	pid_t pid;
	int st;

	switch (sig) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			reaped(s, pid, st);
		break;
	case SIGHUP:
		if (s->stopping || s->reloading) {
			lwsl_warn("lwstp-server: SIGHUP: %s, ignored\n",
				  s->stopping ? "stopping" :
						"a reload is under way");
			break;
		}
		if (check(s)) {
			lwsl_err("lwstp-server: reload refused: %s has "
				 "errors (above); the running server goes "
				 "on\n", s->o->dir);
			break;
		}
		lwsl_notice("lwstp-server: reload: %s checked, the server "
			    "(pid %d) drops its listen sockets\n", s->o->dir,
			    (int)s->servers[0]);
		s->reloading = 1;
		kill(s->servers[0], SIGHUP);
		break;
	default:	/* SIGINT, SIGTERM */
		if (!s->stopping)
			lwsl_notice("lwstp-server: stopping %d server%s\n",
				    count_servers(s),
				    count_servers(s) == 1 ? "" : "s");
		s->stopping = 1;
		signal_all(s, SIGTERM);
		break;
	}
}

/* the current server said its listen sockets are closed, or went away */
static void
on_notify(struct sup *s)
{
	char c;
	ssize_t n = read(s->notify_fd, &c, 1);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;		/* (a stale poll result: not this pipe's) */
	close(s->notify_fd);
	s->notify_fd = -1;
	if (n == 1 && s->reloading && !s->stopping && spawn(s)) {
		s->code = 1;
		s->stopping = 1;
		signal_all(s, SIGTERM);
	}
}

int
lwstp_supervise(const struct lwstp_server_opts *o)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	struct sup s;
	sigset_t set;
	int n;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.notify_fd = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &s.old_mask);
	s.sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (s.sfd < 0) {
		lwsl_err("lwstp-server: signalfd: %s\n", strerror(errno));
		return 1;
	}

	if (check(&s) || spawn(&s)) {
		close(s.sfd);
		return 1;
	}

	while (count_servers(&s)) {
		pfd[0].fd = s.sfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		pfd[1].fd = s.notify_fd;
		pfd[1].events = POLLIN;
		n = poll(pfd, s.notify_fd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && pfd[0].revents & POLLIN &&
		    read(s.sfd, &si, sizeof(si)) == sizeof(si))
			on_signal(&s, (int)si.ssi_signo);
		if (n > 0 && s.notify_fd >= 0 && pfd[1].revents)
			on_notify(&s);
	}
	close(s.sfd);
	if (s.notify_fd >= 0)
		close(s.notify_fd);

	return s.code;
}
