/* lwIP architecture glue for Linux x86-64/arm64 with glibc (see lwip/arch.h). */
#ifndef CULVERT_ARCH_CC_H
#define CULVERT_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "../stack_hooks.h"

#define LWIP_TIMEVAL_PRIVATE 0
#define LWIP_PLATFORM_DIAG(x) \
    do {                      \
        printf x;             \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) culvert_lwip_assert((x), __FILE__, __LINE__)

#endif
