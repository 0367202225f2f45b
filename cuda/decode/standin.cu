// SPDX-License-Identifier: MIT
/*
 * Stand-in times from the simulator.  The total per layer is the
 * simulator's own (sim_step_time: projections + FFN/MoE + exposed
 * all-to-all + layer overhead, averaged over dense and MoE layers); it is
 * split around the cache work with the simulator's GEMM model at the
 * projections' shapes (reference.md section 1): before the indexer the
 * fused q_a/kv_a (7168 x 2112), indexer wq (1536 x 8192) and wk + head
 * weights (7168 x 192); between top-k and attention q_b (1536 x 24576) and
 * the W_UK absorption (as one 128 x 65536 GEMM of the same bytes); the
 * rest after attention.
 */
#include "standin.h"

extern "C" {
#include "model.h"
}

void dec_standin_get(const struct sim_params *p, long batch, struct dec_standin *o)
{
	struct sim_step st;
	const double N = (double)batch;
	sim_step_time(p, SIM_BASELINE, batch, &st);
	const double L = p->model.layers;
	const double total = (st.proj + st.ffn + st.a2a + st.overhead) / L;
	double pre = sim_gemm_time(p, 7168, 2112, N, 1) + sim_gemm_time(p, 1536, 8192, N, 1) +
		     sim_gemm_time(p, 7168, 192, N, 1);
	double mid = sim_gemm_time(p, 1536, 24576, N, 1) + sim_gemm_time(p, 128, 65536, N, 1);
	if (pre + mid > total) {	/* never with the shipped profiles */
		const double f = total / (pre + mid);
		pre *= f;
		mid *= f;
	}
	o->pre_s = pre;
	o->mid_s = mid;
	o->post_s = total - pre - mid;
	o->head_s = st.head;
	o->layers = L;
}
