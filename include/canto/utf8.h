/*
 * utf8.h: UTF-8 checks.
 */
#ifndef CANTO_UTF8_H
#define CANTO_UTF8_H

#include "canto/common.h"

/* Strict UTF-8: shortest forms only, no surrogates, nothing above U+10FFFF,
 * and no NUL. */
bool canto_utf8_valid(const char *s, size_t len);

#endif
