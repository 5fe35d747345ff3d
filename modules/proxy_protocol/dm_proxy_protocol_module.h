/*
 * doorman: the proxy_protocol module: receiving PROXY headers on
 * `listen ... proxy_protocol` addresses of both engines.
 */
#ifndef DM_PROXY_PROTOCOL_MODULE_H
#define DM_PROXY_PROTOCOL_MODULE_H

/*
 * Reads the PROXY header of c (dm_proxy_protocol_read.c): DM_OK once it
 * is whole and valid (c->proxy_protocol set, exactly its bytes consumed),
 * DM_AGAIN to wait for c's read event, DM_ERROR (logged: a broken header,
 * the client gone) to close without answering.
 */
dm_int_t dm_proxy_protocol_read(dm_connection_t *c);

/*
 * Declares $proxy_protocol_addr, $proxy_protocol_port,
 * $proxy_protocol_server_addr, $proxy_protocol_server_port and the family
 * $proxy_protocol_tlv_NAME in an engine's registry. DM_OK or DM_ERROR.
 */
dm_int_t dm_proxy_protocol_variables_add(dm_conf_t *cf,
                                         dm_variable_registry_t *reg);

#endif /* DM_PROXY_PROTOCOL_MODULE_H */
