// test_cxx.cc — C++'s new and delete reach libleakrt's malloc through
// libstdc++, so objects a C++ program news are tracked heap objects too
// (under a sanitizer, its allocator serves instead: expected so).
#include <cstdio>
#include <string>
#include <vector>

extern "C" bool lrt_heap_owns(const void *p);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
static const bool ours_expected = false;
#else
static const bool ours_expected = true;
#endif

int main()
{
    int *one = new int(7);
    auto *many = new std::vector<std::string>(100, std::string(50, 'x'));
    int *array = new int[1000]();
    bool ok = lrt_heap_owns(one) == ours_expected && lrt_heap_owns(many) == ours_expected &&
              lrt_heap_owns(many->data()) == ours_expected &&
              lrt_heap_owns((*many)[99].data()) == ours_expected && lrt_heap_owns(array) == ours_expected &&
              *one == 7 && (*many)[99][49] == 'x' && array[999] == 0;
    delete[] array;
    delete many;
    delete one;
    std::printf("%s: new, new[] and a vector of strings %s on the tracked heap\n", ok ? "ok" : "FAIL",
                ours_expected ? "are" : "are not (a sanitizer's allocator serves)");
    return ok ? 0 : 1;
}
