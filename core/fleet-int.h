/* fleet-int.h: what the parts of the fleet module share (fleet.c, fleet-body.c): big-endian
 * integers in their byte forms. */
#pragma once

#include <stdint.h>

static inline void fleet_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t fleet_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void fleet_put_be64(uint8_t *p, uint64_t v)
{
	fleet_put_be32(p, (uint32_t)(v >> 32));
	fleet_put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t fleet_get_be64(const uint8_t *p)
{
	return (uint64_t)fleet_get_be32(p) << 32 | fleet_get_be32(p + 4);
}
