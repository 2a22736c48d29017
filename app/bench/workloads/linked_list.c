/* Benchmark workload: linked list in a static node pool - build, traverse, merge sort, reverse, filter. */

#define POOL 4096
#define ROUNDS 4

struct node {
    unsigned int value;
    struct node *next;
};

static struct node pool[POOL];

static struct node *merge(struct node *a, struct node *b)
{
    struct node head;
    struct node *tail = &head;
    while (a && b) {
        if (a->value <= b->value) {
            tail->next = a;
            a = a->next;
        } else {
            tail->next = b;
            b = b->next;
        }
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return head.next;
}

static struct node *merge_sort(struct node *list)
{
    struct node *slow, *fast, *second;
    if (!list || !list->next)
        return list;
    slow = list;
    fast = list->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    second = slow->next;
    slow->next = 0;
    return merge(merge_sort(list), merge_sort(second));
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

static unsigned int traverse(const struct node *n)
{
    unsigned int h = 2166136261u;
    for (; n; n = n->next)
        h = (h ^ n->value) * 16777619u;
    return h;
}

int main(void)
{
    unsigned int seed = 31337u;
    unsigned int h = 0;
    int round, i;

    for (round = 0; round < ROUNDS; round++) {
        struct node *list = 0;
        struct node **pp;
        unsigned int count = 0;

        /* build by pushing onto the head */
        for (i = 0; i < POOL; i++) {
            seed = seed * 1103515245u + 12345u;
            pool[i].value = seed >> 8;
            pool[i].next = list;
            list = &pool[i];
        }
        h = h * 31u + traverse(list);

        list = merge_sort(list);
        h = h * 31u + traverse(list);

        list = reverse(list);
        h = h * 31u + traverse(list);

        /* unlink nodes whose value is divisible by 3 */
        pp = &list;
        while (*pp) {
            if ((*pp)->value % 3u == 0)
                *pp = (*pp)->next;
            else {
                (*pp)->value += (unsigned int)round;
                pp = &(*pp)->next;
                count++;
            }
        }
        h = h * 31u + traverse(list) + count;
    }

    return (int)h;
}
