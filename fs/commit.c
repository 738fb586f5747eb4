/* commit.c: the committer of commit.h, a thread with a queue of the flushes and releases of
 * write handles on fleet vaults. The FUSE thread queues them (with the daemon's lock held) and
 * serves on; this thread takes the lock, makes each commit as the FUSE thread would have made
 * it (write.c: write_flush, write_release; the fleet's commit lets the lock go while it speaks
 * to the center) and answers the request, in the order they came. A handle with a request
 * here sends every later one of its own here too (h->w->queued), so its commits keep their
 * order and its release never comes before a commit of it. It never reads or logs a value:
 * the bytes are the handle's, in its secure buffer. */
#include <signal.h>
#include <stdlib.h>

#include "core/kv-fleet.h"
#include "core/log.h"
#include "fs/commit.h"
#include "fs/ops-int.h"

struct item {
	struct item *next;
	fuse_req_t req;
	struct handle *h;
	bool release;
};

struct committer {
	struct vaultfsd *v;
	pthread_t thread;
	pthread_mutex_t lock; /* the queue's; taken inside v->lock, never the other way */
	pthread_cond_t work;
	struct item *head, **tail;
	bool stop;
};

/* Answer one item: the commit under the daemon's lock, the reply after it. */
static void serve_one(struct committer *c, struct item *it)
{
	struct vaultfsd *v = c->v;
	int err = 0;

	pthread_mutex_lock(&v->lock);
	it->h->w->queued--;
	if (it->release)
		write_release(v, it->h); /* frees the handle */
	else
		err = write_flush(v, it->h);
	pthread_mutex_unlock(&v->lock);
	reply_err(it->req, err);
	free(it);
}

static void *committer_main(void *ud)
{
	struct committer *c = ud;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct item *it = c->head;

		if (!it) {
			if (c->stop)
				break;
			pthread_cond_wait(&c->work, &c->lock);
			continue;
		}
		c->head = it->next;
		if (!c->head)
			c->tail = &c->head;
		pthread_mutex_unlock(&c->lock);
		serve_one(c, it);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int committer_start(struct vaultfsd *v, struct committer **ret)
{
	struct committer *c;
	sigset_t all, old;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->v = v;
	c->tail = &c->head;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	/* the thread takes no signals: they stay with the program's threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&c->thread, NULL, committer_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&c->work);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void committer_stop(struct committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL); /* it answers what is queued first */
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool committer_wants(struct vaultfsd *v, const struct handle *h)
{
	if (!v->committer || !h->w || h->w->draft)
		return false;
	return h->w->queued > 0 || kv_fleet_is(v->kv, h->w->n.vault) == 1;
}

bool committer_take(struct vaultfsd *v, fuse_req_t req, struct handle *h, bool release)
{
	struct committer *c = v->committer;
	struct item *it;

	if (!c || !h->w)
		return false;
	it = calloc(1, sizeof(*it));
	if (!it)
		return false;
	*it = (struct item){ .req = req, .h = h, .release = release };
	h->w->queued++;
	pthread_mutex_lock(&c->lock);
	*c->tail = it;
	c->tail = &it->next;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	return true;
}
