/*
 * doorman: the stream (L4) engine: one include for its modules.
 */
#ifndef DM_STREAM_H
#define DM_STREAM_H

#include <dm_stream_conf.h>
#include <dm_stream_session.h>

#endif /* DM_STREAM_H */
