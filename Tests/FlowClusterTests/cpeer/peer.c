/* protobuf-c wire-compatibility peer for the flowturbo.v1 protocol.
 *
 *   peer decode-result FILE      decode an Envelope{result} written by the Swift side, print its fields
 *   peer encode-assignment FILE  write an Envelope{assignment} with fixed fields for the Swift side to decode
 *
 * Built by FlowClusterTests at test time with protoc-c + cc (pkg-config libprotobuf-c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flowturbo.pb-c.h"

static int decode_result(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 2; }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Flowturbo__V1__Envelope *env = flowturbo__v1__envelope__unpack(NULL, n, buf);
    if (!env) { fprintf(stderr, "unpack failed\n"); return 3; }
    if (env->body_case != FLOWTURBO__V1__ENVELOPE__BODY_RESULT) { fprintf(stderr, "not a result\n"); return 4; }
    Flowturbo__V1__ShardResult *r = env->result;
    printf("shard_id=%llu\n", (unsigned long long)r->shard_id);
    printf("lease_id=%llu\n", (unsigned long long)r->lease_id);
    printf("worker_id=%s\n", r->worker_id);
    printf("first_index=%llu\n", (unsigned long long)r->first_index);
    printf("count=%llu\n", (unsigned long long)r->count);
    printf("shape=");
    for (size_t i = 0; i < r->n_shape; i++) printf("%s%u", i ? "," : "", r->shape[i]);
    printf("\nlatents_bytes=%zu\n", r->latents.len);
    printf("latents=");
    for (size_t i = 0; i + 4 <= r->latents.len; i += 4) {
        float v; memcpy(&v, r->latents.data + i, 4);   /* little-endian host */
        printf("%s%.9g", i ? "," : "", v);
    }
    printf("\nlabels=");
    for (size_t i = 0; i < r->n_labels; i++) printf("%s%d", i ? "," : "", r->labels[i]);
    printf("\nnfe=");
    for (size_t i = 0; i < r->n_nfe; i++) printf("%s%u", i ? "," : "", r->nfe[i]);
    printf("\npredictor_seconds=%.17g\n", r->timings ? r->timings->predictor_seconds : -1.0);
    printf("lease_token=");
    for (size_t i = 0; i < r->lease_token.len; i++) printf("%02x", r->lease_token.data[i]);
    printf("\n");
    flowturbo__v1__envelope__free_unpacked(env, NULL);
    return 0;
}

static int encode_assignment(const char *path) {
    Flowturbo__V1__EvalSetSpec es = FLOWTURBO__V1__EVAL_SET_SPEC__INIT;
    es.eval_set_id = "classes-64-k10-balanced-s7";
    es.samples = 64; es.classes = 10; es.label_mode = "balanced";
    Flowturbo__V1__ModelDigest md = FLOWTURBO__V1__MODEL_DIGEST__INIT;
    md.spec = "gmm:synthetic"; md.sha256 = "abc123"; md.role = "predictor";
    Flowturbo__V1__ModelDigest *mds[1] = { &md };
    int32_t labels[4] = { 3, 4, 5, -6 };
    Flowturbo__V1__ShardAssignment a = FLOWTURBO__V1__SHARD_ASSIGNMENT__INIT;
    a.protocol_version = FLOWTURBO__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    a.shard_id = 5; a.eval_set = &es; a.first_index = 40; a.count = 4;
    a.plan = "H2P4R2"; a.guidance_scale = 1.5f; a.guidance_channels = 3; a.batch = 8;
    a.seed = 18446744073709551615ULL; a.n_models = 1; a.models = mds;
    a.lease_deadline_unix_ms = -42; a.lease_id = 9; a.n_labels = 4; a.labels = labels;
    uint8_t token[16];
    for (int i = 0; i < 16; i++) token[i] = (uint8_t)(0xF0 ^ i);
    a.lease_token.len = 16;
    a.lease_token.data = token;
    Flowturbo__V1__Envelope env = FLOWTURBO__V1__ENVELOPE__INIT;
    env.body_case = FLOWTURBO__V1__ENVELOPE__BODY_ASSIGNMENT;
    env.assignment = &a;
    size_t n = flowturbo__v1__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(n);
    flowturbo__v1__envelope__pack(&env, buf);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 2; }
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "decode-result") == 0) return decode_result(argv[2]);
    if (argc == 3 && strcmp(argv[1], "encode-assignment") == 0) return encode_assignment(argv[2]);
    fprintf(stderr, "usage: peer decode-result FILE | encode-assignment FILE\n");
    return 1;
}
