// threads.cc -- std::thread, new/delete, objects deleted by other threads
//
// Usage: threads [THREADS [ROUNDS]]
//
// Each worker builds objects with new (single objects, arrays, std::string,
// std::vector, std::map), fills them with a pattern of its own, and passes
// every other one to the next worker through a mutex-protected mailbox; a
// worker checks the contents of what it receives, then deletes it: objects
// allocated by one thread, freed by another. A few threads are started and
// joined meanwhile. The program prints each failure and exits 1 if any.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<long> failures{0};

void fail(const char *what, unsigned owner, unsigned seq)
{
	failures.fetch_add(1);
	std::printf("  expected an intact %s (made by thread %u, #%u); saw it changed\n",
		what, owner, seq);
}

// One object of several kinds; its contents follow from (owner, seq).
struct Parcel {
	unsigned owner, seq;
	std::string text;
	std::vector<std::uint64_t> numbers;
	std::map<unsigned, std::string> table;
	std::unique_ptr<unsigned char[]> raw;
	std::size_t raw_size;

	Parcel(unsigned o, unsigned s) : owner(o), seq(s)
	{
		text.assign(1 + (s * 31 + o) % 300, static_cast<char>('a' + (s + o) % 26));
		numbers.resize((s * 7 + o) % 200);
		for (std::size_t i = 0; i < numbers.size(); i++)
			numbers[i] = (std::uint64_t)o << 40 | (std::uint64_t)s << 8 | i;
		for (unsigned k = 0; k < s % 8; k++)
			table[k * 13 + o] = std::to_string(s * 1000 + k);
		raw_size = s % 50 == 0 ? 65536 + s % 1000 : 1 + (s * 131) % 4000;
		raw.reset(new unsigned char[raw_size]);
		for (std::size_t i = 0; i < raw_size; i++)
			raw[i] = static_cast<unsigned char>(o * 17 + s + i * 3);
	}

	bool intact() const
	{
		if (text.size() != 1 + (seq * 31 + owner) % 300
				|| text.find_first_not_of(static_cast<char>('a' + (seq + owner) % 26))
					!= std::string::npos)
			return false;
		if (numbers.size() != (seq * 7 + owner) % 200)
			return false;
		for (std::size_t i = 0; i < numbers.size(); i++)
			if (numbers[i] != ((std::uint64_t)owner << 40 | (std::uint64_t)seq << 8 | i))
				return false;
		if (table.size() != seq % 8)
			return false;
		for (unsigned k = 0; k < seq % 8; k++) {
			auto it = table.find(k * 13 + owner);
			if (it == table.end() || it->second != std::to_string(seq * 1000 + k))
				return false;
		}
		for (std::size_t i = 0; i < raw_size; i++)
			if (raw[i] != static_cast<unsigned char>(owner * 17 + seq + i * 3))
				return false;
		return true;
	}
};

struct Mailbox {
	std::mutex lock;
	std::vector<Parcel *> parcels;

	void put(Parcel *p)
	{
		std::lock_guard<std::mutex> g(lock);
		parcels.push_back(p);
	}

	std::vector<Parcel *> take()
	{
		std::lock_guard<std::mutex> g(lock);
		std::vector<Parcel *> out;
		out.swap(parcels);
		return out;
	}
};

void receive(Mailbox &box)
{
	for (Parcel *p : box.take()) {
		if (!p->intact())
			fail("parcel from another thread", p->owner, p->seq);
		delete p;
	}
}

void worker(unsigned id, unsigned rounds, std::vector<Mailbox> &boxes)
{
	Mailbox &next = boxes[(id + 1) % boxes.size()];
	Mailbox &mine = boxes[id];
	std::vector<Parcel *> kept;
	for (unsigned s = 0; s < rounds; s++) {
		Parcel *p = new Parcel(id, s);
		if (s % 2)
			next.put(p);
		else
			kept.push_back(p);
		if (kept.size() == 64) {
			for (Parcel *k : kept) {
				if (!k->intact())
					fail("parcel of its own", k->owner, k->seq);
				delete k;
			}
			kept.clear();
		}
		if (s % 128 == 0)
			receive(mine);
		if (s % 4096 == 0) {  // a short-lived thread that allocates and frees
			std::thread([id, s] {
				std::vector<std::string> v;
				for (unsigned i = 0; i < 500; i++)
					v.emplace_back(i % 100 + 1, static_cast<char>('A' + (id + s + i) % 26));
				for (unsigned i = 0; i < 500; i++)
					if (v[i].size() != i % 100 + 1)
						fail("string of a short-lived thread", id, s);
			}).join();
		}
	}
	for (Parcel *k : kept) {
		if (!k->intact())
			fail("parcel of its own", k->owner, k->seq);
		delete k;
	}
}

}  // namespace

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 4;
	unsigned rounds = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 40000;
	if (nthreads < 2 || rounds < 1) {
		std::printf("usage: %s [THREADS>=2 [ROUNDS]]\n", argv[0]);
		return 2;
	}
	std::vector<Mailbox> boxes(nthreads);
	std::vector<std::thread> threads;
	for (unsigned i = 0; i < nthreads; i++)
		threads.emplace_back(worker, i, rounds, std::ref(boxes));
	for (std::thread &t : threads)
		t.join();
	for (Mailbox &b : boxes)  // what arrived after its receiver finished
		receive(b);
	std::printf("%u threads x %u parcels: %ld failures\n", nthreads, rounds, failures.load());
	return failures.load() ? 1 : 0;
}
