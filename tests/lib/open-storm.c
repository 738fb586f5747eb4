/* open-storm.c: a storm of opens for tests (tests/bats/31-durable.bats): `open-storm PATH
 * PROCS SECONDS` forks PROCS processes that each open PATH, read it to EOF and close it, over
 * and over, for SECONDS or until an open or read fails (the daemon killed under them), then
 * print "PID N": the number of opens whose read gave bytes. One process a reader, one thread
 * each: the pid a record names is the reader's. Test-only: never installed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reader(const char *path, double seconds)
{
	double end = now_s() + seconds;
	unsigned long served = 0;
	char buf[4096];

	while (now_s() < end) {
		long got = 0;
		ssize_t n;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			break;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			got += n;
		close(fd);
		if (n < 0)
			break;
		if (got > 0)
			served++;
	}
	printf("%ld %lu\n", (long)getpid(), served);
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv)
{
	int procs;

	if (argc != 4 || (procs = atoi(argv[2])) <= 0 || procs > 256) {
		fprintf(stderr, "usage: open-storm PATH PROCS SECONDS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < procs; i++) {
		pid_t p = fork();

		if (p < 0)
			return 1;
		if (p == 0)
			reader(argv[1], atof(argv[3]));
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
