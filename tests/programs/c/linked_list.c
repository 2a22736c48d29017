/* Exercises: a singly linked list in a static node pool: free list, sorted insert, delete, reverse, traversal through pointers. */

struct node {
    int value;
    struct node *next;
};

#define POOL_SIZE 128

static struct node pool[POOL_SIZE];
static struct node *free_list;
static struct node *head;

static void pool_init(void)
{
    int i;
    for (i = 0; i < POOL_SIZE - 1; i++)
        pool[i].next = &pool[i + 1];
    pool[POOL_SIZE - 1].next = 0;
    free_list = &pool[0];
}

static struct node *node_alloc(int v)
{
    struct node *n = free_list;
    if (!n)
        return 0;
    free_list = n->next;
    n->value = v;
    n->next = 0;
    return n;
}

static void node_free(struct node *n)
{
    n->next = free_list;
    free_list = n;
}

static void insert_sorted(struct node **list, struct node *n)
{
    struct node **pp = list;          /* pointer to the link being updated */
    while (*pp && (*pp)->value < n->value)
        pp = &(*pp)->next;
    n->next = *pp;
    *pp = n;
}

static int remove_if_multiple(struct node **list, int m)
{
    struct node **pp = list;
    int removed = 0;
    while (*pp) {
        struct node *cur = *pp;
        if (cur->value % m == 0) {
            *pp = cur->next;
            node_free(cur);
            removed++;
        } else {
            pp = &cur->next;
        }
    }
    return removed;
}

static struct node *reverse(struct node *n)
{
    struct node *prev = 0;
    while (n) {
        struct node *next = n->next;
        n->next = prev;
        prev = n;
        n = next;
    }
    return prev;
}

static unsigned int checksum(const struct node *n)
{
    unsigned int h = 2166136261u;
    unsigned int idx = 0;
    for (; n; n = n->next, idx++)
        h = (h ^ ((unsigned int)n->value + idx * 7u)) * 16777619u;
    return h ^ idx;
}

int main(void)
{
    unsigned int h = 0;
    unsigned int seed = 2024u;
    int i, round;

    pool_init();
    head = 0;

    for (round = 0; round < 3; round++) {
        for (i = 0; i < 40; i++) {
            struct node *n;
            seed = seed * 1103515245u + 12345u;
            n = node_alloc((int)((seed >> 16) % 1000u) - 500);
            if (!n)
                break;
            insert_sorted(&head, n);
        }
        h = h * 131u + checksum(head);
        h = h * 131u + (unsigned int)remove_if_multiple(&head, 3 + round);
        head = reverse(head);
        h = h * 131u + checksum(head);
        head = reverse(head);
        /* modify values in place through the list */
        {
            struct node *n;
            for (n = head; n; n = n->next)
                n->value += round;
        }
        h = h * 131u + checksum(head);
    }

    /* count free nodes left */
    {
        struct node *n;
        unsigned int nfree = 0;
        for (n = free_list; n; n = n->next)
            nfree++;
        h = h * 131u + nfree;
    }

    return (int)h;
}
