/*
** hello.c: the smallest embedder of liberyx.  Runs a Python snippet in a
** sandbox and prints what it wrote and the value it left in `result`.
*/
#include <stdio.h>
#include <string.h>

#include <eryx.h>

static const char code[] =
    "import sys, asyncio\n"
    "async def square(x):\n"
    "    await asyncio.sleep(0)\n"
    "    return x * x\n"
    "squares = await asyncio.gather(*(square(i) for i in range(5)))\n"
    "print('hello from', sys.implementation.name, sys.platform)\n"
    "print('squares:', squares)\n"
    "result = {'squares': squares, 'python': sys.version.split()[0]}\n";

int
main(void)
{
    eryx_error err;
    eryx_engine *engine = NULL;
    eryx_sandbox *sandbox = NULL;
    eryx_result *result = NULL;
    int status = 1;

    if (eryx_engine_new(NULL, &engine, &err) != ERYX_OK ||
        eryx_sandbox_new(engine, NULL, &sandbox, &err) != ERYX_OK ||
        eryx_sandbox_execute(sandbox, code, strlen(code), &result, &err) !=
            ERYX_OK) {
        fprintf(stderr, "hello: %s\n", err.message);
        goto done;
    }
    size_t n;
    const char *out = eryx_result_stdout(result, &n);
    fwrite(out, 1, n, stdout);
    printf("result: %s\n", eryx_result_json(result, NULL));
    printf("took %.1f ms\n", (double)eryx_result_duration_us(result) / 1e3);
    status = 0;

done:
    eryx_result_free(result);
    eryx_sandbox_free(sandbox);
    eryx_engine_free(engine);
    return status;
}
