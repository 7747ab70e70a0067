// daemon/curl_loader: libcurl is not loaded until the first libcurl call,
// and every kind of option argument (long, pointer, function pointer,
// curl_off_t) reaches libcurl intact through the forwarders. Transfers use
// file:// URLs of a temporary file: no network.
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

// cmocka last: its macros (fail, ...) clash with the C++ headers; its header
// declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

namespace {

bool libcurl_loaded() {
    void* h = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != nullptr;
}

size_t collect(char* data, size_t size, size_t nmemb, void* userp) {
    static_cast<std::string*>(userp)->append(data, size * nmemb);
    return size * nmemb;
}

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& content) {
        char name[] = "/tmp/test_curl_loader.XXXXXX";
        int fd = mkstemp(name);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
        close(fd);
        path = name;
    }
    ~TempFile() { unlink(path.c_str()); }
};

// Runs first: nothing in this process has called libcurl yet.
void test_not_loaded_until_first_call(void**) {
    assert_false(libcurl_loaded());
    CURL* easy = curl_easy_init();
    assert_non_null(easy);
    assert_true(libcurl_loaded());
    curl_easy_cleanup(easy);
}

void test_options_of_every_type_reach_libcurl(void**) {
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    TempFile file("0123456789");
    std::string url = "file://" + file.path, got;
    CURL* easy = curl_easy_init();
    assert_non_null(easy);
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()), CURLE_OK);             // string
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &collect), CURLE_OK);       // function
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &got), CURLE_OK);               // pointer
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L), CURLE_OK);             // long
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_RESUME_FROM_LARGE, curl_off_t{4}), CURLE_OK);  // off_t
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    assert_string_equal(got.c_str(), "456789");
    curl_off_t size = 0;
    assert_int_equal(curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &size), CURLE_OK);
    assert_int_equal(size, 6);
    // A long that changes the outcome: no body this time.
    got.clear();
    assert_int_equal(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L), CURLE_OK);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    assert_string_equal(got.c_str(), "");
    assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
    curl_easy_cleanup(easy);

    curl_slist* list = curl_slist_append(nullptr, "X-Test: 1");
    assert_non_null(list);
    assert_string_equal(list->data, "X-Test: 1");
    curl_slist_free_all(list);

    CURLM* multi = curl_multi_init();
    assert_non_null(multi);
    assert_int_equal(curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 4L), CURLM_OK);
    int running = -1;
    assert_int_equal(curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running), CURLM_OK);
    assert_int_equal(running, 0);
    int queued = -1;
    assert_null(curl_multi_info_read(multi, &queued));
    assert_int_equal(queued, 0);
    assert_int_equal(curl_multi_cleanup(multi), CURLM_OK);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_loaded_until_first_call),
        cmocka_unit_test(test_options_of_every_type_reach_libcurl),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
