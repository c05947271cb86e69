// The page murmur-serve's HTTP API serves at GET /: type or paste tweets (one per line), see each
// one's label, score, model version and the request's latency; below, the repository's models,
// versions and their states (refreshed every two seconds). One self-contained HTML document (no
// CDN, no external assets); it talks to /v1/classify and /v1/models, and sends a bearer token
// when one is typed in (servers started with --inference-token-file). Text from users and
// servers is inserted as text, never as markup.
#ifndef MURMUR_SERVING_HTTP_PAGE_H_
#define MURMUR_SERVING_HTTP_PAGE_H_

#include <string>

namespace murmur::serving {

const std::string& ClassifierPage();

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_HTTP_PAGE_H_
